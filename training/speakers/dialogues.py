"""Dialogues with known speaker turns, to choose the diarizer's settings and to measure it.

Two kinds, both with turns measured on the speech itself (leading and trailing silence cut):

* :func:`espeak_dialogue`: 2-4 espeak-ng voices take turns of one or two sentences, with
  back-channels of under a second ("Okay.") and a share of back-to-back turns with no pause.
* :func:`corpus_dialogue`: 2-4 speakers of one acted corpus (RAVDESS, EmoDB, EMOVO) take turns,
  each turn one clip, some cut to under a second, some back-to-back.

Each returns ``(audio, turns)``: 16 kHz mono float32 and ``[(start, end, speaker), ...]``.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

SAMPLE_RATE = 16_000

ESPEAK_VOICES = (("en-us+f3", 70), ("en-us+m7", 70), ("en+klatt3", 70), ("en-us+f1", 70), ("en-us+m6", 30))
"""(espeak-ng voice, pitch) of the dialogues' speakers. Many espeak-ng variants are one voice to
a speaker model (``en-us``, ``en-gb``, ``en-gb-scotland`` and ``en-029`` share a timbre; on
``en-gb`` the ``+f3``/``+m7`` variants are not applied), so these five were picked among 26
voice/pitch pairs as the set whose CAM++ centroids are furthest apart (cosine similarity
0.49-0.66 between any two, against 0.9 within one voice)."""
SENTENCES = (
    "Good morning everyone, thanks for coming in so early today.",
    "I brought coffee for the whole team.",
    "Before we start, I have some bad news about the budget.",
    "We lost the grant we applied for in the spring.",
    "That is really disappointing, I worked on that talk for months.",
    "Maybe we can present it online instead.",
    "Could we ask the university for a small loan?",
    "I can write to them this afternoon.",
    "Let me know if you need any numbers from me.",
    "The report is due on Friday, and we are not ready.",
    "Then let us meet again tomorrow at nine.",
    "I think the new design is much better than the old one.",
    "Where did you park the car last night?",
    "The train was late again, so I walked from the station.",
    "My sister is visiting next week with her two children.",
    "Have you seen the results of the survey?",
    "Nobody told me the meeting had been moved.",
    "We should order more paper before the printer runs out.",
)
BACK_CHANNELS = ("Okay.", "Right.", "Yes.", "No.", "Sure.", "I see.")


def _speech_only(audio: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(audio) > 0.02 * max(1e-9, float(np.abs(audio).max())))
    return audio[loud[0]:loud[-1] + 1] if len(loud) else audio[:0]


def _decode(path: Path) -> np.ndarray:
    out = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "f32le",
                          "-ac", "1", "-ar", str(SAMPLE_RATE), "-"], check=True, capture_output=True).stdout
    return np.frombuffer(out, np.float32).copy()


def _speak(voice: tuple[str, int], text: str, work: Path) -> np.ndarray:
    wav = work / "turn.wav"
    name, pitch = voice
    subprocess.run(["espeak-ng", "-v", name, "-p", str(pitch), "-s", "165", "-w", str(wav), text], check=True)
    return _speech_only(_decode(wav))


def _assemble(pieces: Sequence[tuple[str, np.ndarray, float]]) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Concatenate ``(speaker, speech, gap after)`` pieces, each speech peak-normalised to 0.5."""
    parts, turns, t = [np.zeros(int(0.5 * SAMPLE_RATE), np.float32)], [], 0.5
    for speaker, speech, gap in pieces:
        speech = speech / max(1e-9, float(np.abs(speech).max())) * 0.5
        turns.append((round(t, 3), round(t + len(speech) / SAMPLE_RATE, 3), speaker))
        parts += [speech.astype(np.float32), np.zeros(int(gap * SAMPLE_RATE), np.float32)]
        t += (len(speech) + int(gap * SAMPLE_RATE)) / SAMPLE_RATE
    parts.append(np.zeros(int(0.5 * SAMPLE_RATE), np.float32))
    return np.concatenate(parts), turns


def _gap(rng: random.Random) -> float:
    return 0.0 if rng.random() < 0.3 else round(rng.uniform(0.1, 0.8), 2)


def espeak_dialogue(seed: int, voices: Sequence[tuple[str, int]] = ESPEAK_VOICES, turns: int = 12):
    """A dialogue of 2-4 espeak-ng voices (chosen by ``seed``); needs espeak-ng and ffmpeg."""
    rng = random.Random(seed)
    cast = rng.sample(list(voices), rng.randint(2, 4))
    pieces, previous = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(turns):
            who = rng.choice([v for v in cast if v != previous]) if i else cast[0]
            if i and rng.random() < 0.25:
                text = rng.choice(BACK_CHANNELS)
            else:
                text = " ".join(rng.sample(SENTENCES, rng.choice((1, 1, 2))))
            pieces.append((f"S{cast.index(who) + 1}", _speak(who, text, Path(tmp)), _gap(rng)))
            previous = who
    return _assemble(pieces)


def corpus_clips(data_dir: Path, corpus: str) -> dict[str, list[Path]]:
    """Speaker → clip files of one corpus (``ravdess``, ``emodb``, ``emovo``)."""
    from training.audio.corpora import read_corpora

    by_speaker: dict[str, list[Path]] = defaultdict(list)
    for c in read_corpora(data_dir, (corpus,)):
        by_speaker[c.speaker].append(c.path)
    return dict(by_speaker)


def corpus_dialogue(seed: int, clips: dict[str, list[Path]], turns: int = 12):
    """A dialogue of 2-4 speakers of one corpus, one clip a turn, some cut under a second."""
    rng = random.Random(seed)
    cast = rng.sample(sorted(clips), rng.randint(2, 4))
    pieces, previous = [], None
    for i in range(turns):
        who = rng.choice([s for s in cast if s != previous]) if i else cast[0]
        speech = _speech_only(_decode(rng.choice(clips[who])))
        if i and rng.random() < 0.2:  # a short turn: under a second of the clip's speech
            n = int(rng.uniform(0.5, 0.9) * SAMPLE_RATE)
            start = rng.randint(0, max(0, len(speech) - n))
            speech = speech[start:start + n]
        pieces.append((who, speech, _gap(rng)))
        previous = who
    return _assemble(pieces)
