"""Response models and examples, for the OpenAPI page (``/docs``) and job answers.

Analysis answers are returned as plain dicts (so fields the pipeline adds pass through
untouched); their models here document the shape and carry the examples.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_EMOTIONS_EXAMPLE = [
    {"label": "neutral", "confidence": 0.59}, {"label": "joy", "confidence": 0.21},
    {"label": "surprise", "confidence": 0.08}, {"label": "sadness", "confidence": 0.05},
    {"label": "anger", "confidence": 0.04}, {"label": "fear", "confidence": 0.02},
    {"label": "disgust", "confidence": 0.01}]
_SENTIMENTS_EXAMPLE = [{"label": "neutral", "confidence": 0.63},
                       {"label": "positive", "confidence": 0.25},
                       {"label": "negative", "confidence": 0.12}]
SCORES_EXAMPLE = {"emotions": _EMOTIONS_EXAMPLE, "sentiments": _SENTIMENTS_EXAMPLE}
PREDICT_EXAMPLE = {
    "analysis": {"utterances": [{"start_time": 3.8, "end_time": 5.4, "text": "Yeah, everybody's here.", "speaker": "S1",
                                 **SCORES_EXAMPLE}]},
    "metadata": {"duration": 12.5, "language": "en"},
}


class LabelScore(BaseModel):
    """One label and its probability."""

    label: str = Field(examples=["neutral"])
    confidence: float = Field(ge=0, le=1, examples=[0.59])


class TextScores(BaseModel):
    """All 7 emotions and all 3 sentiments, highest first; each list sums to 1."""

    model_config = ConfigDict(json_schema_extra={"example": SCORES_EXAMPLE})
    emotions: list[LabelScore]
    sentiments: list[LabelScore]


class UtteranceOut(TextScores):
    """One utterance: the older service's fields; newer ones (``modalities``, ``words``) beside."""

    model_config = ConfigDict(extra="allow")
    start_time: float = Field(description="seconds from the start of the file")
    end_time: float
    text: str
    speaker: str | None = Field(
        default=None, description="who said it: S1, S2, … in order of first appearance "
        "(absent when speakers were not looked for)")
    agreement: float | None = Field(
        default=None, ge=0, le=1,
        description="share of the fusion weight held by modalities whose top emotion is the fused one")
    modalities_agree: bool | None = Field(
        default=None, description="whether every modality that judged the utterance names the same top emotion")


class Analysis(BaseModel):
    """The utterance timeline."""

    utterances: list[UtteranceOut]


class PredictResponse(BaseModel):
    """The older service's ``{"analysis": {"utterances": [...]}}`` plus ``metadata`` beside."""

    model_config = ConfigDict(json_schema_extra={"example": PREDICT_EXAMPLE})
    analysis: Analysis
    metadata: dict[str, Any] = Field(default_factory=dict, description=(
        "duration, language, model names and versions, seconds per stage; `speakers` (each "
        "speaker's talk time, utterances and mean emotion and sentiment) and `speaker_turns`; "
        "`reason` when no utterance was found"))


class Health(BaseModel):
    """Liveness and what is loaded."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {
        "status": "healthy", "model_loaded": True, "version": "0.1.0",
        "models": {"text": "emotrace-text@1"}, "workers": 1, "queued_or_running": 0}})
    status: Literal["healthy"]
    model_loaded: bool
    version: str


class Progress(BaseModel):
    """The last progress report: the stage and how far it is."""

    stage: str | None = Field(examples=["asr"])
    done: float
    total: float
    fraction: float = Field(ge=0, le=1, description="done / total of the current stage")


class JobOut(BaseModel):
    """A job's state."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "id": "3f2c9a…", "status": "running", "status_url": "/jobs/3f2c9a…",
        "result_url": None, "filename": "meeting.mp4", "created_at": 1718000000.0,
        "started_at": 1718000001.2, "finished_at": None,
        "progress": {"stage": "asr", "done": 12.0, "total": 60.0, "fraction": 0.2},
        "error": None, "options": {"transcript": None, "separate_audio": False}, "reused": False,
        "media_url": "/jobs/3f2c9a…/media"}})
    id: str
    status: Literal["queued", "running", "done", "failed"]
    status_url: str
    result_url: str | None = Field(description="set once the job is done")
    filename: str = Field(description="the uploaded file's name, as the client gave it")
    created_at: float
    started_at: float | None
    finished_at: float | None
    progress: Progress
    error: str | None = Field(description="why the job failed")
    options: dict[str, Any]
    reused: bool = Field(description="the result was reused from an identical earlier upload")
    duration: float | None = Field(None, description="the file's length in seconds, once done")
    media_url: str | None = Field(None, description=(
        "the uploaded file, for playing (with a token when API keys are on); None once it is "
        "not kept"))


class JobCreated(BaseModel):
    """The answer to a new job."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "id": "3f2c9a…", "status": "queued", "status_url": "/jobs/3f2c9a…"}})
    id: str
    status: Literal["queued", "running", "done", "failed"]
    status_url: str


class JobPage(BaseModel):
    """A page of jobs, newest first."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "jobs": [JobOut.model_config["json_schema_extra"]["example"]], "total": 41, "limit": 20,
        "offset": 0, "next_offset": 20}})
    jobs: list[JobOut]
    total: int
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page, None on the last one")


class ErrorOut(BaseModel):
    """Every error answer."""

    model_config = ConfigDict(json_schema_extra={"example": {"detail": "unknown job: 3f2c9a"}})
    detail: Any


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses."""
    text = {400: "invalid option or malformed form", 401: "missing or wrong API key",
            404: "unknown job", 413: "upload over the size limit, or media over the duration limit",
            415: "not a form, or the file is not media", 422: "the media cannot be analysed "
            "(corrupt, no audio) or a field is missing", 409: "the job has no result (yet)",
            503: "the analysis queue is full; see Retry-After"}
    return {c: {"model": ErrorOut, "description": text.get(c, "error")} for c in codes}
