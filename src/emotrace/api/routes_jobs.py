"""Jobs: upload now, poll for progress, fetch the result in any format later (even after a restart).

With API keys, a key sees only its own jobs (and those made while keys were off): another key's
job answers 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from .media import media_url
from .middleware import shorten
from .routes import get_service
from .schemas import PREDICT_EXAMPLE, JobCreated, JobOut, JobPage, errors
from .security import require_api_key
from .service import JOB_AUDIO, JOB_FILE, Service, check_media
from .store import STATUSES, Job
from .uploads import SPEAKERS_FIELD, receive_form

router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[Depends(require_api_key)])

MAX_OFFSET = 2**31 - 1
"""Largest ``offset`` accepted: far beyond any real job list, and well inside what SQLite can
bind (2^63 - 1), so ``offset + limit`` never overflows there (a 422, not a 500)."""

_JOB_BODY = {
    "required": True,
    "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": [JOB_FILE], "properties": {
            JOB_FILE: {"type": "string", "format": "binary", "description": "the video or audio file"},
            JOB_AUDIO: {"type": "string", "format": "binary",
                        "description": "optional: used as the sound track instead of the file's"},
            "text": {"type": "string", "description": (
                "optional transcript: the whole file becomes one utterance with this text and "
                "no transcription runs")},
            "speakers": SPEAKERS_FIELD,
        }},
        "examples": {"video": {"summary": "a long video", "value": {JOB_FILE: "(binary)"}}},
    }},
}


def _formats() -> tuple[str, ...]:
    from ..export import FORMATS  # the writers' module, imported on first use

    return tuple(FORMATS)


def job_out(request: Request, job: Job) -> dict[str, Any]:
    """A job as the API shows it."""
    base = request.scope.get("root_path", "")
    return {
        "id": job.id, "status": job.status, "status_url": f"{base}/jobs/{job.id}",
        "result_url": f"{base}/jobs/{job.id}/result" if job.status == "done" else None,
        "filename": job.filename, "created_at": job.created_at, "started_at": job.started_at,
        "finished_at": job.finished_at,
        "progress": {"stage": job.stage, "done": job.done, "total": job.total,
                     "fraction": round(job.fraction, 4)},
        "error": job.error, "options": dict(job.options), "reused": job.reused,
        "media_url": media_url(request, job),
        "duration": (request.app.state.service.store.media_duration(job.cache_key)
                     if job.status == "done" else None),
    }


def _job_or_404(svc: Service, job_id: str, owner: str | None) -> Job:
    job = svc.store.get(job_id, owner)
    if job is None:
        raise HTTPException(404, f"unknown job: {shorten(job_id)}")
    return job


@router.post("", status_code=202, response_model=JobCreated,
             summary="Upload a file and analyse it in the background",
             openapi_extra={"requestBody": _JOB_BODY},
             responses=errors(400, 401, 413, 415, 422, 503))
async def create_job(request: Request, svc: Service = Depends(get_service),
                     owner: str | None = Depends(require_api_key)) -> JSONResponse:
    """Answers 202 at once with the job's id and ``status_url``; poll that until ``done``.

    An upload identical to an earlier one (same bytes, same options, same models) is ``done``
    at once with the stored result (``reused: true``).
    """
    settings = svc.settings
    with svc.runner.reserve() as slot:  # before reading: a full queue refuses at once
        form = await receive_form(request, settings.upload_dir, settings.max_upload_bytes,
                                  file_fields=(JOB_FILE, JOB_AUDIO), text_fields=("text", "speakers"))
        try:
            if JOB_FILE not in form.files:
                raise HTTPException(422, f"send the media as the multipart file field '{JOB_FILE}'")
            text = form.text("text")
            media = [JOB_FILE] + ([JOB_AUDIO] if JOB_AUDIO in form.files else [])
            await run_in_threadpool(check_media, form, media, text is None,
                                    settings.duration_limit)
            job = svc.create_job(slot, form, text, owner, form.speakers())
        except BaseException:
            form.cleanup()
            raise
    body = {"id": job.id, "status": job.status, "status_url": job_out(request, job)["status_url"]}
    return JSONResponse(body, status_code=202, headers={"Location": body["status_url"]})


@router.get("", response_model=JobPage, summary="List jobs, newest first",
            responses=errors(400, 401))
def list_jobs(request: Request, limit: int = Query(20, ge=1, le=200),
              offset: int = Query(0, ge=0, le=MAX_OFFSET),
              status: str | None = Query(None, description="only jobs in this state: "
                                         + ", ".join(STATUSES),
                                         json_schema_extra={"enum": list(STATUSES)}),
              svc: Service = Depends(get_service),
              owner: str | None = Depends(require_api_key)) -> dict[str, Any]:
    """A page of jobs; follow ``next_offset`` for the next one."""
    if status is not None and status not in STATUSES:
        raise HTTPException(400, f"status={shorten(status)!r} is not allowed; expected one of: "
                                 + ", ".join(STATUSES))
    jobs, total = svc.store.list(limit, offset, status, owner)
    return {"jobs": [job_out(request, j) for j in jobs], "total": total, "limit": limit,
            "offset": offset, "next_offset": offset + limit if offset + limit < total else None}


@router.get("/{job_id}", response_model=JobOut, responses=errors(401, 404),
            summary="A job's state and progress")
def get_job(job_id: str, request: Request, svc: Service = Depends(get_service),
            owner: str | None = Depends(require_api_key)) -> dict[str, Any]:
    """``queued``, ``running`` (with the stage and its fraction), ``done`` or ``failed`` (with why)."""
    return job_out(request, _job_or_404(svc, job_id, owner))


@router.get("/{job_id}/result", summary="A finished job's result",
            responses={200: {"description": "the result in the asked format", "content": {
                "application/json": {"example": PREDICT_EXAMPLE},
                "text/csv": {"example": "start_time,end_time,text,emotion,…\n3.8,5.4,…"},
                "text/vtt": {"example": "WEBVTT\n\n00:00:03.800 --> 00:00:05.400\n…"}}},
                       **errors(400, 401, 404, 409)})
def get_result(job_id: str, format: str = Query("json", description="json, csv, srt, vtt or table",
                                                json_schema_extra={"enum": list(_formats())}),
               svc: Service = Depends(get_service),
               owner: str | None = Depends(require_api_key)) -> Response:
    """The result of a ``done`` job; ``json`` has exactly the shape ``/predict`` answers."""
    formats = _formats()
    if format not in formats:
        raise HTTPException(400, f"format={shorten(format)!r} is not allowed; expected one of: "
                                 + ", ".join(formats))
    job = _job_or_404(svc, job_id, owner)
    if job.status != "done":
        why = f": {job.error}" if job.error else ""
        raise HTTPException(409, f"job {job_id} is {job.status}{why}; no result")
    body = svc.store.result(job.cache_key, format)
    if body is None:
        raise HTTPException(404, f"job {job_id} has no stored {format} result")
    from ..export import EXTENSIONS, MEDIA_TYPES

    return Response(body, media_type=MEDIA_TYPES[format], headers={
        "Content-Disposition": f'inline; filename="{job_id}{EXTENSIONS[format]}"'})


@router.delete("/{job_id}", status_code=204, responses=errors(401, 404),
               summary="Delete a job and its upload (and result, unless another job shares it)")
def delete_job(job_id: str, svc: Service = Depends(get_service),
               owner: str | None = Depends(require_api_key)) -> Response:
    """A running job finishes in the background and its result is dropped."""
    _job_or_404(svc, job_id, owner)
    if svc.delete_job(job_id) is None:
        raise HTTPException(404, f"unknown job: {job_id}")
    return Response(status_code=204)
