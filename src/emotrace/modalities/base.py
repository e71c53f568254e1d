"""What every modality scorer looks like to the pipeline.

The pipeline decodes a file once into a :class:`MediaContext` and hands it, with the
utterances, to each enabled modality. A modality returns one :class:`~emotrace.types.Scores`
per utterance, or ``None`` where it has nothing to say (no face in view, no audio track), so
fusion can skip it rather than treat it as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from ..media import SAMPLE_RATE  # noqa: F401  (re-exported: modalities read it from here)
from ..types import Scores, Utterance
from ..whisper_states import EncoderStates



@dataclass(frozen=True)
class MediaContext:
    """One decoded file, shared read-only by all modalities.

    Attributes:
        path: the file analysed (its video stream is sampled for faces when needed).
        duration: seconds.
        audio: mono float32 samples at :data:`SAMPLE_RATE`, or None if the file has no audio.
        has_video: whether the file has a video stream (faces can be looked for).
        frames: a callable giving all sampled video frames as ``(times, frames)`` on first use
            (decoded once, then kept and reused), or None; for scorers that need to go back and
            forth. Set by the pipeline only when a modality needs frames; nothing is decoded
            unless it is called.
        frame_stream: a callable starting a fresh pass over the sampled frames, yielding
            ``(seconds, frame)`` as they are decoded and keeping none (``frame_stream(grey=True)``
            gives grey HxW frames, else RGB HxWx3), or None. Memory stays flat however long the
            video: prefer it to ``frames``.
        frame_fps: the sampling rate of both (frames per second of video), 0.0 when none.
        encoder_states: the recogniser's Whisper encoder states of ``audio``, kept for a scorer
            whose :class:`Needs` ask for them (the voice pools them), else None.
    """

    path: str
    duration: float
    audio: np.ndarray | None
    has_video: bool = False
    frames: Callable[[], Any] | None = None
    frame_stream: Callable[..., Iterator[tuple[float, np.ndarray]]] | None = None
    frame_fps: float = 0.0
    encoder_states: EncoderStates | None = None


@dataclass(frozen=True)
class Needs:
    """What a scorer needs from the pipeline besides the decoded audio.

    Attributes:
        frames_fps: above 0, the video's frames sampled at this rate (``MediaContext.frames`` /
            ``frame_stream``); the pipeline samples at the highest rate any scorer asks for.
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
                         hook: Callable[[str, float, float], None] | None = None
                         ) -> list[Scores | None]:
        """One Scores (or None when the modality cannot judge it) per utterance, in order."""
        ...
