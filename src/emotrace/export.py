"""Writers: an :class:`~emotrace.types.AnalysisResult` as JSON, CSV, SRT, WebVTT or a text table.

:func:`render` is the one entry point (the CLI and the REST service both use it);
:data:`MEDIA_TYPES` gives the HTTP content type of each format.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Callable, Mapping, Sequence

from .config import check_choice
from .errors import ConfigError
from .labels import EMOTIONS, SENTIMENTS
from .types import AnalysisResult, UtteranceResult

FORMATS: tuple[str, ...] = ("json", "csv", "srt", "vtt", "table")
"""Every format :func:`render` writes."""

MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "table": "text/plain; charset=utf-8",
}
"""HTTP content type of each format."""

EXTENSIONS: dict[str, str] = {"json": ".json", "csv": ".csv", "srt": ".srt", "vtt": ".vtt",
                              "table": ".txt"}
"""File name extension of each format."""

MODALITIES: tuple[str, ...] = ("text", "audio", "face")
"""The modalities whose fusion weights the CSV lists."""

CSV_COLUMNS: tuple[str, ...] = (
    "start", "end", "speaker", "text", "emotion", "emotion_confidence", "sentiment", "sentiment_confidence",
    *(f"emotion_{e}" for e in EMOTIONS), *(f"sentiment_{s}" for s in SENTIMENTS),
    "agreement", "modalities_agree", *(f"weight_{m}" for m in MODALITIES), "absent")
"""The CSV header (a ``words`` column is added when words are requested). ``speaker`` is ``S1``,
``S2``, … (empty when speakers were not looked for). ``weight_*`` is the
fusion weight each modality got for the utterance (empty where it did not judge it);
``absent`` names the modalities left out of it and why (``text: text model supports en only``)."""


def absent_text(absent: Mapping[str, str]) -> str:
    """``text: text model supports en only`` (several joined by ``; ``); empty when none."""
    return "; ".join(f"{name}: {why}" for name, why in absent.items())


def language_line(result: AnalysisResult) -> str:
    """``language de (0.97) · text not scored: text model supports en only``, or only the
    language, or empty when the metadata names none."""
    md = result.metadata
    parts = []
    if md.get("language"):
        p = md.get("language_probability")
        parts.append(f"language {md['language']}" + (f" ({float(p):.2f})" if p is not None
                                                       and md.get("language_source") == "detected" else ""))
    parts += [f"{name} not scored: {why}" for name, why in (md.get("absent_modalities") or {}).items()]
    return " · ".join(parts)


def _json(result: AnalysisResult, include_words: bool) -> str:
    return json.dumps(result.to_dict(include_words), indent=2, ensure_ascii=False) + "\n"


def _csv(result: AnalysisResult, include_words: bool) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS + (("words",) if include_words else ()))
    for r in result.utterances:
        s, u = r.scores, r.utterance
        row = [f"{u.start:.3f}", f"{u.end:.3f}", u.speaker or "", u.text,
               s.top_emotion, f"{s.emotion(s.top_emotion):.4f}",
               s.top_sentiment, f"{s.sentiment(s.top_sentiment):.4f}",
               *(f"{p:.4f}" for p in s.emotions), *(f"{p:.4f}" for p in s.sentiments),
               f"{r.agreement:.4f}", str(r.modalities_agree).lower(),
               *(f"{r.modalities[m].weight:.4f}" if m in r.modalities else "" for m in MODALITIES),
               absent_text(r.absent)]
        if include_words:
            row.append(json.dumps([w.to_dict() for w in u.words], ensure_ascii=False))
        writer.writerow(row)
    return buf.getvalue()


def timestamp(seconds: float, sep: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT; ``sep="."`` gives WebVTT's ``HH:MM:SS.mmm``)."""
    ms = max(0, int(round(seconds * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def cue_label(r: UtteranceResult) -> str:
    """The emotion line of a subtitle cue: ``[joy 82% · positive 90%]``, with ``· audio+face
    only`` when a modality was left out of the utterance (words in a language the text model
    does not read)."""
    s = r.scores
    only = f" · {'+'.join(r.modalities)} only" if r.absent and r.modalities else ""
    return (f"[{s.top_emotion} {s.emotion(s.top_emotion):.0%} · "
            f"{s.top_sentiment} {s.sentiment(s.top_sentiment):.0%}{only}]")


def _cue_text(text: str) -> str:
    # A blank line ends a cue and "-->" starts a timing line: keep both out of the text.
    return " ".join(text.split()).replace("-->", "->")


def _said_by(r: UtteranceResult) -> str:
    """``S1: `` before a subtitle's words when the utterance has a speaker."""
    return f"{r.utterance.speaker}: " if r.utterance.speaker else ""


def _voice(r: UtteranceResult) -> str:
    """WebVTT's voice tag ``<v S1>`` before a cue's words when the utterance has a speaker."""
    return f"<v {r.utterance.speaker}>" if r.utterance.speaker else ""


def _srt(result: AnalysisResult, include_words: bool) -> str:
    cues = [f"{i}\n{timestamp(r.utterance.start)} --> {timestamp(r.utterance.end)}\n"
            f"{_said_by(r)}{_cue_text(r.utterance.text)}\n{cue_label(r)}\n"
            for i, r in enumerate(result.utterances, 1)]
    return "\n".join(cues)


def _vtt(result: AnalysisResult, include_words: bool) -> str:
    cues = [f"{i}\n{timestamp(r.utterance.start, '.')} --> {timestamp(r.utterance.end, '.')}\n"
            f"{_voice(r)}{_cue_text(r.utterance.text).replace('&', '&amp;').replace('<', '&lt;')}\n"
            f"{cue_label(r)}\n"
            for i, r in enumerate(result.utterances, 1)]
    note = language_line(result) if result.metadata.get("absent_modalities") else ""
    # A NOTE block is WebVTT's comment: players skip it; "-->" may not appear in it.
    head = f"NOTE {note.replace('-->', '->')}\n\n" if note else ""
    return "WEBVTT\n\n" + head + "\n".join(cues)


def disagreement(r: UtteranceResult) -> str:
    """``agree`` when every modality names the fused top emotion (or only one judged),
    else who said what else: ``audio: joy``."""
    others = [f"{name}: {m.scores.top_emotion}" for name, m in r.modalities.items()
              if m.scores.top_emotion != r.scores.top_emotion]
    return "agree" if not others else ", ".join(others)


def _clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):d}:{s:04.1f}"


def _table(result: AnalysisResult, include_words: bool) -> str:
    md = result.metadata
    head = [str(md.get("file") or md.get("audio_file") or "")]
    if "duration" in md:
        head.append(f"{float(md['duration']):.1f} s")
    n = len(result.utterances)
    head.append(f"{n} utterance{'' if n == 1 else 's'}")
    if md.get("speakers"):
        k = len(md["speakers"])
        head.append(f"{k} speaker{'' if k == 1 else 's'}")
    if language_line(result):
        head.append(language_line(result))
    lines = [" · ".join(h for h in head if h)]
    if not result.utterances:
        if md.get("reason"):
            lines.append(f"no utterances: {md['reason']}")
        return "\n".join(lines) + "\n"
    with_speakers = any(r.utterance.speaker for r in result.utterances)
    rows = [(f"{_clock(r.utterance.start)}–{_clock(r.utterance.end)}",
             *((r.utterance.speaker or "",) if with_speakers else ()),
             f"{r.scores.top_emotion} {r.scores.emotion(r.scores.top_emotion):.2f}",
             f"{r.scores.top_sentiment} {r.scores.sentiment(r.scores.top_sentiment):.2f}",
             disagreement(r), r.utterance.text) for r in result.utterances]
    header = ("time", *(("speaker",) if with_speakers else ()), "emotion", "sentiment", "modalities", "text")
    last = len(header) - 1
    widths = [max(len(x[i]) for x in (header, *rows)) for i in range(last)]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row[:last], widths)) + "  " + row[last]

    lines.append(line(header))
    for r, row in zip(result.utterances, rows):
        lines.append(line(row))
        if include_words:
            lines.append(" " * (sum(widths) + 2 * last)
                         + " ".join(f"{w.text}@{w.start:.2f}" for w in r.utterance.words))
    return "\n".join(lines) + "\n"


_WRITERS: dict[str, Callable[[AnalysisResult, bool], str]] = {
    "json": _json, "csv": _csv, "srt": _srt, "vtt": _vtt, "table": _table}


def render(result: AnalysisResult, fmt: str, include_words: bool = False) -> str:
    """Write a result in one of :data:`FORMATS`.

    Args:
        result: the analysis.
        fmt: ``"json"`` (the older service's shape plus metadata), ``"csv"`` (one row per
            utterance: times, text, top emotion and sentiment, every probability), ``"srt"`` /
            ``"vtt"`` (subtitles; each cue shows the top emotion and sentiment) or ``"table"``
            (aligned plain text for a terminal).
        include_words: add each utterance's timed words (JSON, CSV and table).

    Raises:
        ConfigError: unknown format.
    """
    check_choice("format", fmt, FORMATS)
    return _WRITERS[fmt](result, include_words)


def render_many(results: Sequence[AnalysisResult], fmt: str, include_words: bool = False) -> str:
    """Several results in one text: a JSON array, one CSV with a leading ``file`` column,
    or the single renderings one after another (table, srt and vtt need one file each).

    Raises:
        ConfigError: unknown format, or srt/vtt for more than one result.
    """
    check_choice("format", fmt, FORMATS)
    if len(results) == 1:
        return render(results[0], fmt, include_words)
    if fmt == "json":
        return json.dumps([r.to_dict(include_words) for r in results], indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        out: list[str] = []
        for i, r in enumerate(results):
            name = str(r.metadata.get("file") or r.metadata.get("audio_file") or "")
            lines = render(r, "csv", include_words).splitlines(keepends=True)
            out += (["file," + lines[0]] if i == 0 else []) + [_csv_cell(name) + "," + ln for ln in lines[1:]]
        return "".join(out)
    if fmt == "table":
        return "\n".join(render(r, "table", include_words) for r in results)
    raise ConfigError(f"format {fmt!r} holds one file; write several files to a directory instead")


def _csv_cell(value: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([value])
    return buf.getvalue()
