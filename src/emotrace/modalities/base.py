"""What every modality scorer looks like to the pipeline.

The pipeline decodes a file once into a :class:`MediaContext` and hands it, with the
utterances, to each enabled modality. A modality returns one :class:`~emotrace.types.Scores`
per utterance, or ``None`` where it has nothing to say (no face in view, no audio track), so
fusion can skip it rather than treat it as evidence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from ..audio_source import AudioSource, as_source
from ..media import SAMPLE_RATE, MediaInfo, frame_sampler  # noqa: F401  (SAMPLE_RATE re-exported)
from ..progress import Hook
from ..types import Scores, Utterance
from ..whisper_states import EncoderStates



@dataclass(frozen=True)
class MediaContext:
    """One decoded file, shared read-only by all modalities.

    Build it with :meth:`of_file` (the pipeline, evaluation and training all do), which derives
    the duration and the frame stream from the file.

    Attributes:
        path: the file analysed (its video stream is sampled for faces when needed).
        duration: seconds.
        audio: the mono float32 samples at :data:`SAMPLE_RATE`, read by span (an array given
            here is wrapped, not copied), or None if the file has no audio. A stage that needs
            some stretch of the sound reads it with :meth:`audio_span`; a long file's samples
            are not in memory (:class:`~emotrace.audio_source.AudioSource`).
        has_video: whether the file has a video stream (faces can be looked for).
        frame_stream: a callable starting a fresh pass over the video's frames sampled at
            ``frame_fps``, yielding ``(seconds, frame)`` as they are decoded and keeping none
            (``frame_stream(grey=True)`` gives grey HxW frames, else RGB HxWx3; ``max_side`` and
            ``want`` as in :func:`~emotrace.media.iter_frames`), or None when no scorer asked
            for frames. Memory stays flat however long the video.
        frame_fps: the sampling rate of ``frame_stream`` (frames per second of video), 0.0 when none.
        encoder_states: the recogniser's Whisper encoder states of ``audio``, kept for a scorer
            whose :class:`Needs` ask for them (the voice pools them), else None.
    """

    path: str
    duration: float
    audio: AudioSource | None
    has_video: bool = False
    frame_stream: Callable[..., Iterator[tuple[float, np.ndarray]]] | None = None
    frame_fps: float = 0.0
    encoder_states: EncoderStates | None = None

    def __post_init__(self) -> None:
        if self.audio is not None and not isinstance(self.audio, AudioSource):
            object.__setattr__(self, "audio", AudioSource(self.audio))

    @classmethod
    def of_file(cls, path: str | os.PathLike, audio: AudioSource | np.ndarray | None, *,
                info: MediaInfo | None = None, duration: float | None = None, frame_fps: float = 0.0,
                frame_max_side: int = 0, encoder_states: EncoderStates | None = None) -> "MediaContext":
        """The context of ``path``.

        Args:
            path: the file (its video is sampled from it).
            audio: its decoded audio (:func:`~emotrace.media.decode_audio_source`), or None.
            info: what :func:`~emotrace.media.probe` found in it (None: no video).
            duration: seconds (default: the longer of the audio and ``info``'s duration).
            frame_fps: above 0 (and with a video), ``frame_stream`` samples this many frames a second.
            frame_max_side: the frames' longer side at most this many pixels (0: original size).
            encoder_states: the recogniser's encoder states of ``audio``, if kept.
        """
        audio = None if audio is None else as_source(audio)
        if duration is None:
            duration = max(audio.duration if audio is not None else 0.0, info.duration if info else 0.0)
        has_video = bool(info and info.has_video)
        stream = frame_sampler(path, frame_fps, frame_max_side) if has_video and frame_fps > 0 else None
        return cls(path=str(path), duration=duration, audio=audio, has_video=has_video,
                   frame_stream=stream, frame_fps=frame_fps if stream is not None else 0.0,
                   encoder_states=encoder_states)

    def audio_span(self, start: float, end: float) -> np.ndarray:
        """The samples from ``start`` to ``end`` seconds (clipped to the audio; empty without
        audio or when ``end <= start``); reads only that stretch, whatever the file's length."""
        if self.audio is None:
            return np.zeros(0, np.float32)
        return self.audio.span(start, end)


@dataclass(frozen=True)
class Needs:
    """What a scorer needs from the pipeline besides the decoded audio.

    Attributes:
        frames_fps: above 0, the video's frames sampled at this rate (``MediaContext.frame_stream``);
            the pipeline samples at the highest rate any scorer asks for.
        encoder_states: the speech recogniser's Whisper encoder states (``MediaContext.encoder_states``).
    """

    frames_fps: float = 0.0
    encoder_states: bool = False


class ModalityScorer(Protocol):
    """A loaded model for one modality; ``score`` must not mutate ``self`` (thread-safe)."""

    name: str
    """``"text"``, ``"audio"`` or ``"face"``."""

    model_name: str
    """Model name and version, reported in the result's metadata."""

    needs: Needs
    """What the pipeline must give it besides the audio (frames, encoder states)."""

    languages: tuple[str, ...]
    """The language codes its model can judge (the text model: ``("en",)``); the pipeline leaves
    it out, with a reason, for speech in any other language. Empty: every language."""

    def score_utterances(self, media: MediaContext, utterances: Sequence[Utterance],
                         hook: Hook | None = None
                         ) -> list[Scores | None]:
        """One Scores (or None when the modality cannot judge it) per utterance, in order."""
        ...
