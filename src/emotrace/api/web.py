"""The web page, its static files, a favicon, and the API documentation pages, all served offline.

The page (``static/index.html`` with its script and style sheet) is a single static bundle: no
build step, no CDN, nothing fetched from another host. ``/docs`` (Swagger UI) and ``/redoc``
(ReDoc) use the copies of their JavaScript and CSS shipped by the ``fastapi-offline`` package
(which carries exactly these files), so the documentation works with no network too. Every path
here is open without an API key: the page asks for the key itself, and the documentation is
public in the same way ``/openapi.json`` is.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (get_redoc_html, get_swagger_ui_html,
                                  get_swagger_ui_oauth2_redirect_html)
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_URL = "/static"
"""Where the page's own files are served."""
DOCS_ASSETS_URL = "/static/docs"
"""Where Swagger UI's and ReDoc's files are served."""


def static_dir() -> Path:
    """The folder holding the page's files."""
    return Path(str(resources.files(__package__).joinpath("static")))


def docs_assets_dir() -> Path | None:
    """Swagger UI's and ReDoc's files from the ``fastapi-offline`` package; None without it."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


REDOC_OUTSIDE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
"""The one file ReDoc's bundle fetches from another host (its "API docs by Redocly" logo)."""
_BLANK_SVG = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E"


def _serve_redoc_bundle(app: FastAPI, bundle: Path) -> None:
    """Serve ReDoc's bundle with its outside logo replaced by a blank image, so ``/redoc``
    makes no request to another host (with no network it would log a failed load)."""
    cached: list[bytes] = []

    @app.get(f"{DOCS_ASSETS_URL}/redoc.standalone.js", include_in_schema=False)
    def redoc_bundle() -> Response:
        if not cached:
            cached.append(bundle.read_text(encoding="utf-8")
                          .replace(REDOC_OUTSIDE_LOGO, _BLANK_SVG).encode("utf-8"))
        return Response(cached[0], media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})


def install_web(app: FastAPI) -> None:
    """Add the page (``/``), its files (``/static``), ``/favicon.ico``, ``/docs`` and ``/redoc``.

    Build the app with ``docs_url=None, redoc_url=None``: the pages added here replace
    FastAPI's, which load their files from a CDN.
    """
    folder = static_dir()
    page = folder / "index.html"
    favicon = folder / "favicon.svg"
    docs_assets = docs_assets_dir()
    if docs_assets is not None:  # before /static: the more specific prefix must win
        _serve_redoc_bundle(app, docs_assets / "redoc.standalone.js")
        app.mount(DOCS_ASSETS_URL, StaticFiles(directory=docs_assets), name="docs-assets")
    if folder.is_dir():
        app.mount(STATIC_URL, StaticFiles(directory=folder), name="static")

    if page.is_file():
        html = page.read_text(encoding="utf-8")

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        def index() -> HTMLResponse:
            # no-cache: a new version of the page is picked up at once after an upgrade
            return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    if favicon.is_file():
        @app.get("/favicon.ico", include_in_schema=False)
        def favicon_ico() -> FileResponse:
            return FileResponse(favicon, media_type="image/svg+xml")

    icon = f"{STATIC_URL}/favicon.svg"
    # Without fastapi-offline (an install without the 'api' extra's full set) the pages fall back
    # to FastAPI's defaults, which load the same files from a CDN.
    assets = {} if docs_assets is None else {
        "swagger_js_url": f"{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
        "swagger_css_url": f"{DOCS_ASSETS_URL}/swagger-ui.css",
        "redoc_js_url": f"{DOCS_ASSETS_URL}/redoc.standalone.js"}
    redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} API: Swagger UI",
            **{k: root + v for k, v in assets.items() if k.startswith("swagger")},
            swagger_favicon_url=f"{root}{icon}", oauth2_redirect_url=f"{root}{redirect}",
            # validatorUrl None: Swagger UI would otherwise ask an outside validator for a badge
            swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})})

    @app.get(redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} API: ReDoc",
            **{k: root + v for k, v in assets.items() if k.startswith("redoc")},
            redoc_favicon_url=f"{root}{icon}", with_google_fonts=False)
