"""The API's Swagger UI at `/docs`, served from this process (no CDN), under the strict CSP.

The Swagger UI files come from the `fastapi-offline` package; the page and the script that
starts Swagger UI are our own static files, so no inline script is needed.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"
STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """`/docs` (the page) and `/docs/assets` (Swagger UI's bundle and stylesheet); FastAPI's own is off."""
    app.mount("/docs/assets", StaticFiles(directory=SWAGGER_UI), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", media_type="text/html")
