"""The pipeline: file → audio → words → utterances → per-modality scores → fused timeline.

:class:`Pipeline` loads every model once, in its constructor; :meth:`Pipeline.analyze` never
changes the object, so one pipeline can serve many threads. The module-level :func:`analyze`
keeps one pipeline for the configuration last asked for and goes through the result cache.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable, Mapping

from .asr import Transcriber
from .audio_source import AudioSource
from .cache import ResultCache, config_fingerprint
from .config import PipelineConfig, check_choice, check_range
from .errors import ConfigError, MediaError, ModelError
from .fusion import agreement, fuse
from .media import MediaInfo, decode_audio_source, probe
from .modalities.base import MediaContext, ModalityScorer
from .progress import Hook, no_progress
from .segmentation import segment
from .speaker_summary import speaker_summary
from .types import AnalysisResult, Scores, Utterance, UtteranceResult

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _text_scorer(config: PipelineConfig) -> ModalityScorer:
    from .modalities.text import TextScorer

    return TextScorer(config.text)


def _audio_scorer(config: PipelineConfig) -> ModalityScorer:
    from .modalities.audio import AudioScorer

    return AudioScorer(config.audio)


def _face_scorer(config: PipelineConfig) -> ModalityScorer:
    from .modalities.face import FaceScorer

    return FaceScorer(config.face)


def _diarizer(config: PipelineConfig) -> Any:
    from .diarization import Diarizer

    return Diarizer(config.diarization)


SCORER_FACTORIES: dict[str, Callable[[PipelineConfig], ModalityScorer]] = {
    "text": _text_scorer,
    "audio": _audio_scorer,
    "face": _face_scorer,
}
"""Modality name → function building its loaded scorer from the configuration."""


def language_reason(scorer: ModalityScorer, language: str) -> str | None:
    """Why ``scorer`` must not judge speech in ``language`` (None when it may).

    A scorer that lists its model's ``languages`` (the text model: English) is left out for
    any other language rather than read words it was never trained on; an unknown language
    (``""``: a transcript given without a language) is not held against it.
    """
    languages = scorer.languages
    if not languages or not language or language in languages:
        return None
    return f"{scorer.name} model supports {', '.join(languages)} only"


def _needs_frames(scorer: ModalityScorer) -> bool:
    return scorer.needs.frames_fps > 0


def _frame_fps(scorers: Mapping[str, ModalityScorer]) -> float:
    """The sampling rate that serves every frame-hungry scorer (the highest any asks for; 0: none)."""
    return max((s.needs.frames_fps for s in scorers.values() if _needs_frames(s)), default=0.0)


class Pipeline:
    """Loaded models and the stages that use them.

    Args:
        config: what to compute; see :class:`~emotrace.config.PipelineConfig`.
        scorers: ready scorers to use instead of building them, by modality name (for example
            a model of your own); every name in ``config.modalities`` not given here is built
            from :data:`SCORER_FACTORIES`.
        transcriber: a ready recogniser to use instead of building one from ``config.asr``
            (anything with :class:`~emotrace.asr.Transcriber`'s ``transcribe``, ``model_name``,
            ``device`` and ``compute_type``).
        diarizer: a ready speaker finder to use instead of building one from
            ``config.diarization`` (anything with :class:`~emotrace.diarization.Diarizer`'s
            ``diarize`` and ``model_name``); none is built when diarization is off.

    Raises:
        ConfigError: an unknown modality name.
        ModelError: a model cannot be found or loaded.
    """

    def __init__(self, config: PipelineConfig = PipelineConfig(), *,
                 scorers: Mapping[str, ModalityScorer] | None = None,
                 transcriber: Transcriber | None = None, diarizer: Any = None):
        given = dict(scorers or {})
        known = sorted(set(SCORER_FACTORIES) | set(given))
        for name in config.modalities:
            check_choice("modality", name, known)
        self.config = config
        self.transcriber = transcriber if transcriber is not None else Transcriber(config.asr)
        self.diarizer = diarizer if diarizer is not None or not config.diarization.enabled \
            else _diarizer(config)
        self.scorers: dict[str, ModalityScorer] = {
            name: given[name] if name in given else SCORER_FACTORIES[name](config)
            for name in config.modalities}

    def describe(self) -> dict[str, Any]:
        """emotrace's version, the modalities and every model's name and version."""
        from . import __version__

        return {"version": __version__, "modalities": list(self.scorers),
                "models": {"asr": self.transcriber.model_name,
                           **({"speakers": self.diarizer.model_name} if self.diarizer else {}),
                           **{name: s.model_name for name, s in self.scorers.items()}},
                "asr_device": f"{self.transcriber.device}/{self.transcriber.compute_type}"}

    def _load(self, path: PathLike | None, audio_path: PathLike | None, needs_audio: bool = True
              ) -> tuple[MediaInfo | None, AudioSource | None, float]:
        info = probe(path) if path is not None else None
        source = audio_path if audio_path is not None else path
        audio_info = probe(source) if audio_path is not None or info is None else info
        if not audio_info.has_audio and needs_audio:
            raise MediaError(f"{source}: has no audio track")
        limit = self.config.media.max_duration
        longest = max(audio_info.duration, info.duration if info else 0.0)
        if limit is not None and longest > limit:
            raise MediaError(f"{source}: lasts {longest:.0f} s, more than the {limit:.0f} s allowed")
        if not audio_info.has_audio:  # a transcript was given: the words and the picture suffice
            return info, None, longest
        # the limit again while decoding, for headers that give no duration
        audio = decode_audio_source(source, max_seconds=limit)
        duration = max(audio.duration, longest)
        return info, audio, duration

    def analyze(self, path: PathLike | None = None, *, audio_path: PathLike | None = None,
                transcript: str | None = None, hook: Hook | None = None,
                speakers: int | None = None) -> AnalysisResult:
        """Analyse one file.

        Args:
            path: the video or audio file. May be None when ``audio_path`` is given.
            audio_path: take the audio from this file instead of ``path`` (``path`` may then
                be a video without sound).
            transcript: skip speech recognition: the whole file is one utterance with this text.
            hook: optional ``hook(stage, done, total)`` progress callback.
            speakers: the number of speakers in this file, when known (instead of
                ``config.diarization.num_speakers``).

        Returns:
            The utterance timeline; no speech gives no utterances and ``metadata["reason"]``.

        Raises:
            ConfigError: neither ``path`` nor ``audio_path`` given; ``speakers`` outside 1-50,
                or given while diarization is off.
            MediaError: a file is missing, not media, corrupt, or has no audio track (needed
                only without a ``transcript``: with one, a silent video is scored from its
                words and faces).
            ModelError: a model failed while running.
        """
        if path is None and audio_path is None:
            raise ConfigError("nothing to analyse: give a media file (path) or an audio file (audio_path)")
        if speakers is not None:
            check_range("speakers", speakers, 1, 50)
            if self.diarizer is None:
                raise ConfigError("speakers was given, but this pipeline does not look for speakers "
                                  "(diarization is off)")
        hook = hook or no_progress
        timings: dict[str, float] = {}
        started = clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = round(now - clock, 4)
            clock = now

        hook("media", 0, 1)
        info, audio, duration = self._load(path, audio_path, needs_audio=transcript is None)
        hook("media", 1, 1)
        lap("media")

        reason = None
        found = None
        extra: dict[str, Any] = {}
        states = None
        language_probability: float | None = None
        if transcript is not None:
            text = " ".join(transcript.split())
            utterances = [Utterance(0.0, duration, text)] if text else []
            language = self.config.asr.language or ""
            language_source = "given" if language else None
            extra["transcript_given"] = True
            reason = None if text else "the transcript given is empty"
        else:
            # Scorers that pool Whisper's encoder states (the voice) get the recogniser's own.
            keep = any(s.needs.encoder_states for s in self.scorers.values())
            heard = self.transcriber.transcribe(audio, hook, keep_states=keep)
            lap("asr")
            if self.diarizer is not None and heard.words:
                found = self.diarizer.diarize(audio, hook, num_speakers=speakers)
                lap("speakers")
            utterances = segment(heard.words, self.config.segmentation, duration, found)
            lap("segmentation")
            language, language_source = heard.language, heard.language_source
            if heard.language:
                language_probability = round(heard.language_probability, 4)
            extra["speech_duration"] = round(heard.speech_duration, 3)
            states = heard.encoder
            reason = None if heard.words else "no speech detected"

        media = MediaContext.of_file(path if path is not None else audio_path, audio, info=info,
                                     duration=duration, frame_fps=_frame_fps(self.scorers),
                                     frame_max_side=self.config.media.frame_max_side,
                                     encoder_states=states)
        has_video = media.has_video

        # Modalities whose model cannot judge this language say nothing rather than guess.
        absent = {name: why for name, s in self.scorers.items() if (why := language_reason(s, language))}
        per_modality: dict[str, list[Scores | None]] = {}
        for name, scorer in self.scorers.items():
            if name in absent:
                per_modality[name] = [None] * len(utterances)
                continue
            scores = list(scorer.score_utterances(media, utterances, hook)) if utterances else []
            if len(scores) != len(utterances):
                raise ModelError(f"the {name} modality gave {len(scores)} results for "
                                 f"{len(utterances)} utterances")
            per_modality[name] = scores
            lap(name)

        results, unscored = [], 0
        for i, u in enumerate(utterances):
            present = {name: scores[i] for name, scores in per_modality.items()}
            if all(s is None for s in present.values()):
                unscored += 1  # no modality could judge it: leave it out rather than guess
                continue
            fused, own = fuse(present, self.config.fusion)
            results.append(UtteranceResult(u, fused, own, *agreement(fused, own), absent=dict(absent)))
        lap("fusion")
        if unscored:
            extra["unscored_utterances"] = unscored
            if not results:
                reason = reason or ("; ".join(absent.values()) if set(absent) == set(self.scorers)
                                    else "no modality could score any utterance")
        timings["total"] = round(time.perf_counter() - started, 4)

        d = self.describe()
        metadata: dict[str, Any] = {
            "file": str(path) if path is not None else None,
            **({"audio_file": str(audio_path)} if audio_path is not None else {}),
            "duration": round(duration, 3), "has_video": has_video, "language": language,
            "language_probability": language_probability, "language_source": language_source,
            **({"absent_modalities": absent} if absent else {}),
            "modalities": d["modalities"], "models": d["models"], "emotrace_version": d["version"],
            "asr_device": d["asr_device"], **extra, "timings": timings}
        if found is not None:
            metadata["speakers"] = speaker_summary(results, found)
            metadata["speaker_turns"] = [[t.start, t.end, t.speaker] for t in found.turns]
        if reason and not results:
            metadata["reason"] = reason
        return AnalysisResult(tuple(results), metadata)


_default_lock = threading.Lock()
_default: tuple[str, Pipeline] | None = None


def get_pipeline(config: PipelineConfig | None = None) -> Pipeline:
    """The shared pipeline for ``config`` (default: ``PipelineConfig()``), built on first use.

    One pipeline is kept: asking for another configuration replaces it.
    """
    global _default
    config = config or PipelineConfig()
    key = config_fingerprint(config)
    with _default_lock:
        if _default is None or _default[0] != key:
            _default = (key, Pipeline(config))
        return _default[1]


def analyze(path: PathLike | None = None, config: PipelineConfig | None = None, *,
            audio_path: PathLike | None = None, transcript: str | None = None,
            hook: Hook | None = None, cache: bool = True,
            cache_dir: PathLike | None = None) -> AnalysisResult:
    """Analyse a file with a shared :class:`Pipeline`, through the result cache.

    Args:
        path, audio_path, transcript, hook: as in :meth:`Pipeline.analyze`.
        config: the pipeline configuration (default: ``PipelineConfig()``).
        cache: look the result up in (and add it to) the on-disk result cache.
        cache_dir: the cache directory (default: :func:`~emotrace.cache.default_cache_dir`).

    Example:
        >>> from emotrace import analyze
        >>> result = analyze("clip.mp4")                      # doctest: +SKIP
        >>> [(r.utterance.text, r.scores.top_emotion) for r in result.utterances]  # doctest: +SKIP
    """
    pipeline = get_pipeline(config)
    if not cache:
        return pipeline.analyze(path, audio_path=audio_path, transcript=transcript, hook=hook)
    return ResultCache(cache_dir).analyze(pipeline, path, audio_path=audio_path,
                                          transcript=transcript, hook=hook)


__all__ = ["Pipeline", "PipelineConfig", "SCORER_FACTORIES", "analyze", "get_pipeline"]
