"""ASGI middleware that keeps every answer the app controls JSON, and connections alive.

* :class:`CatchAll`: an unexpected exception becomes a JSON 500 (507 when the disk is full)
  *without* re-raising. Starlette's own last-resort handler sends the 500 and then re-raises,
  and uvicorn answers a re-raised exception by dropping the connection, so a keep-alive
  client's next request failed.
* :class:`HeadAsGet`: ``HEAD`` on every ``GET`` route (FastAPI routes answer only the methods
  they declare): the GET runs and its body is dropped, headers kept.
* :class:`JsonCORSMiddleware`: Starlette's CORS middleware, with a rejected preflight answered
  ``{"detail": …}`` like every other error instead of plain text.
* :func:`http_error`, :func:`validation_error`: FastAPI's error answers, with what they quote
  of the client's input cut short.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import sqlite3
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import StorageError

log = logging.getLogger(__name__)

_NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
"""Write errors that mean "out of room" (disk full, file-size limit, quota), not a bug."""


def storage_error(exc: BaseException) -> StorageError | None:
    """``exc`` as a :class:`StorageError` when it means the server ran out of room, else None."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        return StorageError(f"the server is out of storage space ({exc.strerror or exc}); "
                            "try again later")
    if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower():
        return StorageError(f"the server's job database cannot grow ({exc}); try again later")
    return None


def error_answer(exc: BaseException) -> tuple[int, str]:
    """The status and ``detail`` for an exception no route handled (it is logged here)."""
    full = storage_error(exc)
    if full is not None:
        log.error("out of storage space: %s", exc)
        return 507, str(full)
    return 500, f"internal error: {type(exc).__name__}"


class CatchAll:
    """Answer an unhandled exception with JSON and keep the connection (see the module doc)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for an answer: let the server close the connection
                raise
            status, detail = error_answer(exc)
            if status == 500:
                log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)


class HeadAsGet:
    """Run ``HEAD`` requests as ``GET`` and send the headers without the body."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app(dict(scope, method="GET"), receive, headers_only)


class JsonCORSMiddleware(CORSMiddleware):
    """CORS with JSON refusals."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        detail: Any = bytes(response.body).decode("utf-8", "replace")
        headers = {k: v for k, v in response.headers.items()
                   if k.lower() not in ("content-length", "content-type")}
        return Response(json.dumps({"detail": detail}), status_code=response.status_code,
                        headers=headers, media_type="application/json")


SHOWN = 64
"""Longest piece of a client's input (an id, a query value) quoted back in an error."""


def shorten(value: Any, limit: int = SHOWN) -> Any:
    """A client's value cut to ``limit`` characters (with ``…``), so an error never echoes
    a 50 KB id back; other types are returned as they are when short."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if len(repr(value)) > 4 * limit:
        return f"({type(value).__name__}, too long to show)"
    return value


_LONG_WORD = re.compile(r"\S{%d,}" % (SHOWN + 1))


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """FastAPI's answer to an HTTPException, with any over-long word of the detail cut."""
    if isinstance(exc.detail, str):
        exc.detail = _LONG_WORD.sub(lambda m: shorten(m.group()), exc.detail)
    return await http_exception_handler(request, exc)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 answer, with the offending inputs cut short (it echoes them whole)."""
    errors = [{k: shorten(v) if k == "input" else v for k, v in e.items() if k != "url"}
              for e in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)
