"""emotrace: what was said in a video, when, and how (emotion and sentiment), offline on a CPU."""

from .config import PipelineConfig
from .labels import EMOTIONS, SENTIMENTS
from .pipeline import Pipeline, analyze
from .types import AnalysisResult, ModalityScores, Scores, Utterance, UtteranceResult, Word

__version__ = "0.1.0"

__all__ = [
    "analyze", "Pipeline", "PipelineConfig",
    "EMOTIONS", "SENTIMENTS",
    "AnalysisResult", "ModalityScores", "Scores", "Utterance", "UtteranceResult", "Word",
    "__version__",
]
