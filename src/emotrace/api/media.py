"""A job's uploaded media, served back for the web page's player: ``GET /jobs/{id}/media``.

The file is served with HTTP range requests (``206 Partial Content``), so a browser's player can
seek without downloading the whole file. A job keeps its upload while the job is kept (until it
is deleted, or removed after ``--keep-days``); a failed job's upload is removed at once.

A ``<video src>`` cannot send an API key, so when keys are on, :func:`media_url` gives the
URL a *media token*: an HMAC of the job id and an expiry time, under a secret that lives only
in this process. It lets the holder read that one job's media until it expires (or the server
restarts); whoever gets it was shown the job with a valid key.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import secrets
import time
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Security
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials

from .routes import get_service
from .schemas import errors
from .security import _bearer, _header, require_api_key
from .service import JOB_FILE, Service
from .store import Job

TOKEN_HOURS = 24
"""How long a media token stays valid (at least; expiries are rounded up to the next hour so
the URL, and the browser's cache of the file, stays the same across polls)."""

_SECRET = secrets.token_bytes(32)  # per process: a restart invalidates every token

router = APIRouter(prefix="/jobs", tags=["jobs"])


def _sign(job_id: str, expires: int) -> str:
    mac = hmac.new(_SECRET, f"{job_id}\0{expires}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{expires}.{mac}"


def media_token(job_id: str, now: float | None = None) -> str:
    """A token that lets its holder fetch ``job_id``'s media for :data:`TOKEN_HOURS` hours."""
    hour = int((time.time() if now is None else now) // 3600)
    return _sign(job_id, (hour + TOKEN_HOURS + 1) * 3600)


def token_valid(job_id: str, token: str, now: float | None = None) -> bool:
    """Whether ``token`` was made by :func:`media_token` for this job and has not expired."""
    expires, _, _mac = token.partition(".")
    if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(_sign(job_id, int(expires)), token)


def media_path(job: Job) -> Path | None:
    """The job's stored upload, or None when it is not kept (any more)."""
    if not job.upload_dir:
        return None
    path = Path(job.upload_dir) / JOB_FILE
    return path if path.is_file() else None


def media_url(request: Request, job: Job) -> str | None:
    """Where the web page can fetch a job's media (with a token when API keys are on)."""
    if not job.upload_dir or job.status == "failed":
        return None
    base = request.scope.get("root_path", "")
    url = f"{base}/jobs/{job.id}/media"
    if request.app.state.service.settings.api_keys:
        url += f"?token={media_token(job.id)}"
    return url


async def _media_access(request: Request, job_id: str,
                        token: str | None = Query(None, description=(
                            "the token from the job's `media_url`; needed instead of a key "
                            "when API keys are on, since a player cannot send headers")),
                        bearer: HTTPAuthorizationCredentials | None = Security(_bearer),
                        header: str | None = Security(_header)) -> tuple[bool, str | None]:
    """(whether any owner may see the job, the key's owner tag): a valid token opens the one
    job it was made for; otherwise the usual key check applies."""
    if token and token_valid(job_id, token):
        return True, None
    return False, await require_api_key(request, bearer, header)


@router.get("/{job_id}/media", summary="The job's uploaded video or audio, for playing",
            response_class=FileResponse,
            responses={200: {"description": "the whole file (send `Range` for a part of it)",
                             "content": {"video/mp4": {"example": "(the uploaded bytes)"},
                                         "audio/wav": {"example": "(the uploaded bytes)"}}},
                       206: {"description": "the asked byte range"},
                       416: {"description": "the range is outside the file"},
                       **errors(401, 404)})
def get_media(job_id: str, svc: Service = Depends(get_service),
              access: tuple[bool, str | None] = Depends(_media_access)) -> FileResponse:
    """The file as uploaded, with range requests (``Accept-Ranges: bytes``) so players can seek.

    Kept while the job is kept; 404 once the job is deleted or failed.
    """
    any_owner, owner = access
    job = svc.store.get(job_id) if any_owner else svc.store.get(job_id, owner)
    if job is None:
        raise HTTPException(404, f"unknown job: {job_id}")
    path = media_path(job) if job.status != "failed" else None
    if path is None:
        raise HTTPException(404, f"job {job_id}'s media is not kept")
    guessed = mimetypes.guess_type(job.filename or "")[0] or ""
    # only media types: an upload is never served as something a browser would run or render
    media_type = guessed if guessed.split("/")[0] in ("video", "audio") else "application/octet-stream"
    return FileResponse(path, media_type=media_type, filename=job.filename or f"{job_id}.media",
                        content_disposition_type="inline", headers={
                            "Cache-Control": "private, max-age=3600",
                            "X-Content-Type-Options": "nosniff",
                            "Content-Security-Policy": "sandbox; default-src 'none'"})
