"""emotrace's REST service (needs the ``api`` extra: ``pip install 'emotrace[api]'``).

``create_app()`` builds the FastAPI app; ``emotrace serve`` runs it with uvicorn.
"""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
