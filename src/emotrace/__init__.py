"""emotrace: what was said in a video, when, and how (emotion and sentiment), offline on a CPU.

Everything a user of the Python API needs is importable from here: :func:`analyze` and
:class:`Pipeline`, the options of every stage, the result types, :func:`render` (JSON, CSV,
SRT, WebVTT, table) and the errors.
"""

from importlib.metadata import PackageNotFoundError, version

from .config import (AsrOptions, AudioOptions, DiarizationOptions, FaceOptions, FusionOptions, MediaOptions,
                     PipelineConfig, SegmentationOptions, TextOptions)
from .errors import ConfigError, DataError, EmotraceError, MediaError, ModelError, StorageError
from .export import FORMATS, render
from .labels import EMOTIONS, SENTIMENTS
from .pipeline import Pipeline, analyze
from .types import AnalysisResult, ModalityScores, Scores, SpeakerTurn, Utterance, UtteranceResult, Word

try:
    __version__ = version("emotrace")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "analyze", "Pipeline", "PipelineConfig",
    "MediaOptions", "AsrOptions", "SegmentationOptions", "DiarizationOptions", "TextOptions", "AudioOptions",
    "FaceOptions", "FusionOptions",
    "render", "FORMATS",
    "EMOTIONS", "SENTIMENTS",
    "AnalysisResult", "ModalityScores", "Scores", "SpeakerTurn", "Utterance", "UtteranceResult", "Word",
    "EmotraceError", "ConfigError", "MediaError", "ModelError", "DataError", "StorageError",
    "__version__",
]
