"""The older service's endpoints, same names and fields: ``/predict``, ``/predict_text``, ``/health``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from .. import __version__
from .schemas import PREDICT_EXAMPLE, Health, PredictResponse, TextScores, errors
from .security import require_api_key
from .service import Service, check_media
from .uploads import MAX_FIELD_BYTES, SPEAKERS_FIELD, receive_form

EARLY_SLOT_BYTES = 1024 * 1024
"""Bodies larger than this (or of unknown size) need a free slot *before* they are read, so a
client with a big upload is turned away at once when the queue is full."""

MAX_TEXT_BODY = MAX_FIELD_BYTES + 64 * 1024
"""Largest ``/predict_text`` body: one text field of at most ``MAX_FIELD_BYTES`` and its framing."""

_TEXT_FIELDS = {"type": "object", "required": ["text"], "properties": {"text": {
    "type": "string", "description": f"the text to score (at most {MAX_FIELD_BYTES} bytes)"}}}
_TEXT_BODY = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": _TEXT_FIELDS, "example": {"text": "I am feeling great today!"}},
        "multipart/form-data": {"schema": _TEXT_FIELDS},
    },
}

_PREDICT_BODY = {
    "required": True,
    "content": {"multipart/form-data": {
        "schema": {"type": "object", "properties": {
            "video_file": {"type": "string", "format": "binary",
                           "description": "the video (or any media file) to analyse"},
            "audio_file": {"type": "string", "format": "binary",
                           "description": "used as the sound track instead of the video's"},
            "text": {"type": "string", "description": (
                "the transcript: the whole media becomes one utterance with this text and no "
                "transcription runs; alone (no files) it is scored like /predict_text")},
            "speakers": SPEAKERS_FIELD,
        }},
        "examples": {
            "video": {"summary": "a video", "value": {"video_file": "(binary)"}},
            "text": {"summary": "text only", "value": {"text": "I can't believe you did that!"}},
        },
    }},
}


def get_service(request: Request) -> Service:
    """The app's :class:`Service`."""
    return request.app.state.service


router = APIRouter()
keyed = APIRouter(dependencies=[Depends(require_api_key)])


@router.get("/health", response_model=Health, summary="Liveness and loaded models (no key needed)")
def health(svc: Service = Depends(get_service)) -> dict[str, Any]:
    """``{"status": "healthy", "model_loaded": true, …}`` with the version and model names."""
    return {"status": "healthy", "model_loaded": True, "version": __version__,
            "pipeline": svc.description, "text_model": svc.text_scorer.model_name,
            "workers": svc.runner.workers, "queued_or_running": svc.runner.admitted,
            "api_keys_required": bool(svc.settings.api_keys)}


@keyed.post("/predict_text", summary="Emotion and sentiment of one text",
            openapi_extra={"requestBody": _TEXT_BODY},
            responses={200: {"model": TextScores}, **errors(400, 401, 413, 415, 422)})
async def predict_text(request: Request, svc: Service = Depends(get_service)) -> dict[str, Any]:
    """Score a text from its words alone: all 7 emotions and 3 sentiments, highest first."""
    # The form is read here, not by a Form() parameter: FastAPI reads those (unbounded, to a
    # temporary file) before any dependency runs, so before the API key is checked.
    if not request.headers.get("content-type"):  # no form at all: the field is what is missing
        raise HTTPException(422, "send the text to score as the form field 'text'")
    form = await receive_form(request, svc.settings.upload_dir, MAX_TEXT_BODY,
                              file_fields=(), text_fields=("text",))
    form.cleanup()
    if "text" not in form.fields:
        raise HTTPException(422, "send the text to score as the form field 'text'")
    text = form.text("text")
    if text is None:
        raise HTTPException(422, "text is empty")
    return await run_in_threadpool(svc.score_text, text)


@keyed.post("/predict", summary="Analyse a video (or audio, or text) and wait for the result",
            openapi_extra={"requestBody": _PREDICT_BODY},
            responses={200: {"model": PredictResponse,
                             "content": {"application/json": {"example": PREDICT_EXAMPLE}}},
                       **errors(400, 401, 413, 415, 422, 503)})
async def predict(request: Request, svc: Service = Depends(get_service),
                  owner: str | None = Depends(require_api_key)) -> dict[str, Any]:
    """The older service's endpoint: ``video_file``, ``audio_file`` and ``text``, any combination.

    Answers ``{"analysis": {"utterances": [...]}, "metadata": {...}}``. For long files use
    ``POST /jobs``, which answers at once and reports progress.
    """
    settings = svc.settings
    length = request.headers.get("content-length")
    big = not (length and length.isdigit() and int(length) <= EARLY_SLOT_BYTES)
    slot = svc.runner.reserve() if big else None
    try:
        form = await receive_form(request, settings.upload_dir, settings.max_upload_bytes,
                                  file_fields=("video_file", "audio_file"), text_fields=("text", "speakers"))
    except BaseException:
        if slot:
            slot.release()
        raise
    handed_off = False
    try:
        text = form.text("text")
        video = "video_file" if "video_file" in form.files else None
        audio = "audio_file" if "audio_file" in form.files else None
        if video is None and audio is None:
            if slot:
                slot.release()
            if text is None:
                raise HTTPException(422, "send a video_file, an audio_file or a text")
            return await run_in_threadpool(svc.text_only_result, text)
        slot = slot or svc.runner.reserve()
        with slot:
            speakers = form.speakers()
            media = [f for f in (video, audio) if f]
            await run_in_threadpool(check_media, form, media, text is None,
                                    settings.duration_limit)
            handed_off = True
            return await svc.analyze_now(slot, form, video, audio, text, owner, speakers)
    finally:
        if not handed_off:
            form.cleanup()
