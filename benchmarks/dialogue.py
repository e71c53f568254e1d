"""A synthetic multi-speaker dialogue with known words and turn times, made with espeak-ng.

Used by ``benchmarks/asr.py`` for word error rate (the words are known) and for how well the
segmenter's utterances match speakers' turns (the turn times are known: each turn's speech is
measured from its own samples, without espeak's leading and trailing silence).

Five voices take turns as people do: a turn may hold several sentences, short back-channels
("Okay.", "Right.") come between, and the gap between turns is short (0.25-0.6 s), shorter
than many pauses inside a turn.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000

VOICES = {"A": "en-us", "B": "en-gb+f3", "C": "en-gb-scotland", "D": "en-us+f2", "E": "en-029"}
"""Speaker → espeak-ng voice (a language plus an optional ``+variant``)."""

TURNS: tuple[tuple[str, str], ...] = (
    ("A", "Good morning everyone. Thanks for coming in so early today."),
    ("B", "Morning. I brought coffee for the whole team."),
    ("A", "Wonderful, that is very kind of you."),
    ("C", "Before we start, I have some bad news about the budget. We lost the grant we applied for in the spring."),
    ("D", "Okay."),
    ("C", "It means we have to cancel the trip to the conference."),
    ("B", "That is really disappointing. I worked on that talk for three months."),
    ("E", "Right."),
    ("A", "I know, and I am sorry. Maybe we can present it online instead."),
    ("D", "Could we ask the university for a small loan? They helped another group last year."),
    ("C", "I can write to them this afternoon."),
    ("B", "Yes please. Let me know if you need any numbers from me."),
    ("E", "I am worried about the deadline, though. The report is due on Friday."),
    ("A", "Then let us meet again tomorrow at nine and finish it together."),
)
"""(speaker, words) of every turn, in order."""

GAPS = (0.45, 0.3, 0.55, 0.25, 0.4, 0.6, 0.3, 0.35, 0.5, 0.3, 0.45, 0.25, 0.4)
"""Seconds of silence after each turn but the last (people answer quickly)."""


@dataclass(frozen=True)
class Turn:
    """One reference turn: who, what, and when (speech only, seconds from the start)."""

    speaker: str
    text: str
    start: float
    end: float


def _speak(voice: str, text: str, work: Path) -> np.ndarray:
    wav = work / "turn.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(wav), text], check=True)
    out = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(wav), "-f", "f32le",
                          "-ac", "1", "-ar", str(SAMPLE_RATE), "-"], check=True, capture_output=True).stdout
    audio = np.frombuffer(out, np.float32)
    loud = np.flatnonzero(np.abs(audio) > 0.01 * np.abs(audio).max())
    return audio[loud[0]:loud[-1] + 1]  # the speech itself: turn times are measured on it


def make_dialogue(path: str | Path) -> list[Turn]:
    """Write the dialogue as a 16 kHz mono WAV file and return its reference turns.

    Needs ``espeak-ng`` and ``ffmpeg`` on the PATH.
    """
    import wave

    parts, turns, t = [np.zeros(int(0.5 * SAMPLE_RATE), np.float32)], [], 0.5
    with tempfile.TemporaryDirectory() as tmp:
        for i, (speaker, text) in enumerate(TURNS):
            speech = _speak(VOICES[speaker], text, Path(tmp))
            turns.append(Turn(speaker, text, round(t, 3), round(t + len(speech) / SAMPLE_RATE, 3)))
            gap = GAPS[i] if i < len(GAPS) else 1.0
            parts += [speech, np.zeros(int(gap * SAMPLE_RATE), np.float32)]
            t += (len(speech) + int(gap * SAMPLE_RATE)) / SAMPLE_RATE
    audio = np.concatenate(parts)
    pcm = (np.clip(audio / max(1e-9, np.abs(audio).max()) * 0.8, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return turns


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two time spans."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def turns_matched(turns: list[Turn], spans: list[tuple[float, float]], threshold: float = 0.5) -> float:
    """Share of reference turns that some utterance span overlaps with IoU >= ``threshold``."""
    if not turns:
        return 0.0
    hit = sum(any(iou((t.start, t.end), s) >= threshold for s in spans) for t in turns)
    return hit / len(turns)
