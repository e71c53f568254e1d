"""A result cache: analysing the same file again with the same configuration returns at once.

The key (:func:`result_key`, also the service's job-store key) is a SHA-256 over the file's
content (not its name), the full pipeline configuration, the model names and versions, and
emotrace's version, so any change that could change a result misses the cache. Entries are
JSON files under ``$EMOTRACE_CACHE_DIR`` (default
``~/.cache/emotrace``, or ``$XDG_CACHE_HOME/emotrace``), written atomically; a damaged entry
is ignored and recomputed. The pipeline itself never writes here: the CLI and
:func:`emotrace.analyze` do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

from .progress import Hook
from .types import AnalysisResult, ModalityScores, Scores, Utterance, UtteranceResult, Word

log = logging.getLogger(__name__)

CACHE_ENV = "EMOTRACE_CACHE_DIR"
ENTRY_FORMAT = 2  # 2: per utterance also agreement, absent modalities, each modality's quality
_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """``$EMOTRACE_CACHE_DIR``, else ``$XDG_CACHE_HOME/emotrace``, else ``~/.cache/emotrace``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "emotrace"


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def config_fingerprint(config: Any) -> str:
    """A stable JSON text of a (nested) options dataclass."""
    return json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)


def result_key(models: Mapping[str, Any], config: Any, media: str | None = None, audio: str | None = None,
               transcript: str | None = None, speakers: int | None = None) -> str:
    """The key of one analysis result, for this cache and the service's job store alike.

    Args:
        models: the pipeline's ``describe()`` (model names and versions).
        config: its options dataclass (None when it has none).
        media, audio: SHA-256 digests of the media file and of a separate sound file.
        transcript: the text given instead of transcribing.
        speakers: the number of speakers given for this file (keyed only when given).
    """
    from . import __version__

    parts = {
        "entry_format": ENTRY_FORMAT, "emotrace": __version__, "pipeline": models,
        "config": json.loads(config_fingerprint(config)) if dataclasses.is_dataclass(config) else None,
        "media": media, "audio": audio, "transcript": transcript,
        **({"speakers": speakers} if speakers is not None else {}),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _scores(s: Scores) -> dict[str, list[float]]:
    return {"emotions": list(s.emotions), "sentiments": list(s.sentiments)}


def result_to_json(result: AnalysisResult) -> dict[str, Any]:
    """A lossless JSON form (full precision, labels in model order), unlike ``to_dict()``."""
    return {"format": ENTRY_FORMAT, "metadata": dict(result.metadata), "utterances": [
        {"start": r.utterance.start, "end": r.utterance.end, "text": r.utterance.text,
         "words": [[w.start, w.end, w.text, w.probability] for w in r.utterance.words],
         "speaker": r.utterance.speaker,
         "scores": _scores(r.scores),
         "modalities": {k: {**_scores(m.scores), "weight": m.weight, "quality": m.scores.quality}
                        for k, m in r.modalities.items()},
         "agreement": r.agreement, "modalities_agree": r.modalities_agree, "absent": dict(r.absent)}
        for r in result.utterances]}


def result_from_json(data: Mapping[str, Any]) -> AnalysisResult:
    """Inverse of :func:`result_to_json`.

    Raises:
        ValueError: not an entry of this format.
    """
    if data.get("format") != ENTRY_FORMAT:
        raise ValueError(f"cache entry format {data.get('format')!r}, expected {ENTRY_FORMAT}")
    utterances = []
    for u in data["utterances"]:
        words = tuple(Word(float(a), float(b), str(t), float(p)) for a, b, t, p in u["words"])
        mods = {k: ModalityScores(Scores.from_arrays(m["emotions"], m["sentiments"], m.get("quality", 1.0)),
                                  float(m["weight"]))
                for k, m in u["modalities"].items()}
        utterances.append(UtteranceResult(
            Utterance(float(u["start"]), float(u["end"]), str(u["text"]), words, u.get("speaker")),
            Scores.from_arrays(u["scores"]["emotions"], u["scores"]["sentiments"]), mods,
            float(u.get("agreement", 1.0)), bool(u.get("modalities_agree", True)),
            {str(k): str(v) for k, v in u.get("absent", {}).items()}))
    return AnalysisResult(tuple(utterances), dict(data["metadata"]))


class ResultCache:
    """Analysis results on disk, keyed by content + configuration + model versions.

    Args:
        directory: where entries live; None for :func:`default_cache_dir`.
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()

    def key(self, pipeline: Any, path: str | os.PathLike | None = None,
            audio_path: str | os.PathLike | None = None, transcript: str | None = None,
            speakers: int | None = None) -> str:
        """:func:`result_key` of analysing these inputs with ``pipeline`` (anything with
        ``config`` and ``describe()``, such as :class:`~emotrace.pipeline.Pipeline`)."""
        return result_key(pipeline.describe(), pipeline.config,
                          file_digest(path) if path is not None else None,
                          file_digest(audio_path) if audio_path is not None else None, transcript, speakers)

    def _entry(self, key: str) -> Path:
        return self.directory / "results" / key[:2] / f"{key}.json"

    def get(self, key: str) -> AnalysisResult | None:
        """The stored result, or None when absent or unreadable."""
        entry = self._entry(key)
        try:
            return result_from_json(json.loads(entry.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("ignoring damaged cache entry %s: %s", entry, e)
            return None

    def put(self, key: str, result: AnalysisResult) -> None:
        """Store a result (atomically); a cache that cannot be written only logs a warning."""
        entry = self._entry(key)
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(result_to_json(result), f, ensure_ascii=False)
            os.replace(tmp, entry)
        except OSError as e:
            log.warning("cannot write the result cache in %s: %s", self.directory, e)

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        removed = 0
        for entry in (self.directory / "results").glob("*/*.json"):
            entry.unlink(missing_ok=True)
            removed += 1
        return removed

    def analyze(self, pipeline: Any, path: str | os.PathLike | None = None, *,
                audio_path: str | os.PathLike | None = None, transcript: str | None = None,
                hook: Hook | None = None, speakers: int | None = None) -> AnalysisResult:
        """``pipeline.analyze(...)`` through the cache (``speakers``: as in
        :meth:`~emotrace.pipeline.Pipeline.analyze`).

        A hit returns the stored result with ``metadata["cached"] = True`` and the file names
        of this call; a miss analyses and stores.
        """
        key = self.key(pipeline, path, audio_path, transcript, speakers)
        hit = self.get(key)
        if hit is not None:
            log.debug("cache hit %s for %s", key[:12], path or audio_path)
            metadata = {**hit.metadata, "cached": True,
                        "file": str(path) if path is not None else None}
            if audio_path is not None:
                metadata["audio_file"] = str(audio_path)
            return AnalysisResult(hit.utterances, metadata)
        extra = {"speakers": speakers} if speakers is not None else {}
        result = pipeline.analyze(path, audio_path=audio_path, transcript=transcript, hook=hook, **extra)
        self.put(key, result)
        return result
