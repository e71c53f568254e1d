"""The FastAPI app factory: settings → loaded models, job store, worker pool → routes.

``create_app()`` loads the models once, opens (or creates) the job store, re-runs the jobs a
previous process left unfinished, and returns the app. Every error answer is JSON
``{"detail": …}``; each emotrace error class maps to one status.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import ClusterError, ConfigError, EmotraceError, MediaError, ModelError, StorageError
from . import media, routes, routes_jobs
from .lock import ServerLock
from .middleware import (CatchAll, HeadAsGet, JsonCORSMiddleware, error_answer, http_error,
                         validation_error)
from .runner import QueueFull, Runner
from .service import AnalysisPipeline, Service, TextModel, TooLong, UnsupportedMedia
from .settings import Settings
from .store import JobStore
from .web import install_web

log = logging.getLogger(__name__)

ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (UnsupportedMedia, 415), (TooLong, 413), (MediaError, 422), (ConfigError, 400), (ModelError, 500),
    (StorageError, 507), (ClusterError, 503), (EmotraceError, 500))
"""Each emotrace error class and its HTTP status; the first match wins."""

DESCRIPTION = """
emotrace's REST service: what was said in a video, when, and how (7 emotions, 3 sentiments).

* `POST /predict`, `POST /predict_text`, `GET /health`: the older service's endpoints, unchanged.
* `POST /jobs` and `GET /jobs/{id}`: for long files, with progress; results survive restarts and
  come as JSON, CSV, SRT or WebVTT; `GET /jobs/{id}/media` plays the upload back (with ranges).
* `/` is a web page (a player with the emotion timeline); `/docs` and `/redoc` work offline.

When API keys are configured, send `Authorization: Bearer KEY` or `X-API-Key: KEY`.
"""


def _status(exc: Exception) -> int:
    return next(code for cls, code in ERROR_STATUS if isinstance(exc, cls))


def _install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)

    @app.exception_handler(EmotraceError)
    async def emotrace_error(request: Request, exc: EmotraceError) -> JSONResponse:
        status = _status(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, exc: QueueFull) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503,
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only reached without CatchAll (which answers first and keeps the connection).
        status, detail = error_answer(exc)
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": detail}, status_code=status)


def _cors(app: FastAPI, origins: tuple[str, ...]) -> None:
    wildcard = "*" in origins
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=["*"] if wildcard else list(origins),
        # Browsers refuse '*' with credentials, and it would let any site use a user's cookies.
        allow_credentials=not wildcard,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        expose_headers=["Location", "Retry-After", "Content-Disposition"],
    )


def _load_pipeline(settings: Settings) -> AnalysisPipeline:
    from ..config import MediaOptions, PipelineConfig
    from ..pipeline import Pipeline

    # the pipeline's own limit also stops decoding a file whose header gives no duration
    return Pipeline(PipelineConfig(media=MediaOptions(max_duration=settings.duration_limit)))


def _load_text_scorer(pipeline: Any) -> TextModel:
    from ..config import TextOptions
    from ..modalities.text import TextScorer

    loaded = getattr(pipeline, "scorers", {}).get("text")
    if loaded is not None:  # the pipeline's own: the model is in memory once
        return loaded
    config = getattr(pipeline, "config", None)
    return TextScorer(getattr(config, "text", TextOptions()))


def create_app(settings: Settings | None = None, pipeline: AnalysisPipeline | None = None, *,
               text_scorer: TextModel | None = None) -> FastAPI:
    """Build the REST service.

    Args:
        settings: the service settings; default ``Settings.from_env()``.
        pipeline: a loaded pipeline to share; default ``Pipeline(PipelineConfig())``, loaded now.
        text_scorer: the model for ``/predict_text``; default the pipeline's own text scorer
            (or a ``TextScorer`` with the pipeline's text options).

    Raises:
        ModelError: a model cannot be loaded.
        ConfigError: a setting is invalid, or another server uses the same data folder or
            job database (see :mod:`emotrace.api.lock`).
    """
    settings = settings if settings is not None else Settings.from_env()
    # first, so a second server on the same files stops before it loads any model
    lock = ServerLock([settings.data_dir / "server.lock", Path(f"{settings.database}.lock")])
    try:
        pipeline = pipeline if pipeline is not None else _load_pipeline(settings)
        text_scorer = text_scorer if text_scorer is not None else _load_text_scorer(pipeline)
        service = Service(settings, pipeline, text_scorer, JobStore(settings.database),
                          Runner(settings.workers, settings.max_queue, settings.retry_after_s))
        service.recover()
    except BaseException:
        lock.release()
        raise

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            yield
        finally:
            service.close()
            lock.release()

    # docs_url/redoc_url None: web.install_web serves both pages from files in the package
    app = FastAPI(title="emotrace", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.service = service
    _install_error_handlers(app)
    app.add_middleware(CatchAll)  # added first: innermost, so its answers get CORS headers
    _cors(app, settings.cors_origins)
    app.add_middleware(HeadAsGet)
    app.include_router(routes.router)
    app.include_router(routes.keyed)
    app.include_router(routes_jobs.router)
    app.include_router(media.router)
    install_web(app)

    log.info("emotrace %s ready: %d worker(s), database %s", __version__, settings.workers,
             settings.database)
    return app
