"""The admin API and dashboard application: `create_app()` for uvicorn (`jobsctl api`).

Every error leaves as the envelope `{"success": false, "error": {"code", "message"}}`:
401/403 from the token check, 404 for unknown queues, jobs, schedules, pipeline runs and
exports, 405 with the path's `Allow`, 409 for an operation the job's state does not allow,
413 for a body over API_MAX_BODY_BYTES (refused before it is read), 422 for invalid input,
503 when Redis or PostgreSQL cannot be reached: each error's kind (`errors`) carries its
status, mapped in one place, `api.errors`. Anything else is a bug, answered 500 and logged.
Every reply carries the security headers of `api.security_headers`.

It refuses to start, rather than answer 503 to everything, when a secret is a placeholder or the
database's schema is missing or older than the code (`wiring.service.preflight`: one line saying
what to do; `jobsctl api` prints it and exits 2 or 4 before uvicorn starts).
"""

from __future__ import annotations

from fastapi import FastAPI

from api import dashboard, docs
from api.body_limit import BodyLimit
from api.errors import install_error_handlers
from api.routes import (
    bulk,
    exports,
    freshness,
    jobs_search,
    operations,
    queue_history,
    queues,
    system,
    tenants,
    workers,
)
from api.security_headers import POLICY, SecureASGIMiddleware
from jobsctl.runtime import load_actors
from settings import get_settings
from wiring.service import preflight


def create_app() -> FastAPI:
    """The app, on the configured servers or, with nothing configured, the embedded default (`load_actors()`).

    Importing this module declared every actor and the schedule table (`jobsctl.runtime` imports
    `actors.catalog`): the API sends any job and reads every queue.
    """
    load_actors()
    preflight(get_settings())
    limit = get_settings().api_max_body_bytes
    app = FastAPI(
        title="adjobs admin API",
        version="1",
        description="Queues, jobs, schedules, pipelines and exports of the ad-analytics job system.",
        openapi_url="/openapi.json",
        docs_url=None,  # `api.docs` serves Swagger UI from local files
        redoc_url=None,
    )
    install_error_handlers(app)
    # The last added runs first: security headers on every reply, then the body limit.
    app.add_middleware(BodyLimit, limit=limit)
    app.add_middleware(SecureASGIMiddleware, secure=POLICY)
    app.include_router(system.router)
    app.include_router(queues.router, prefix="/api/v1")
    app.include_router(queue_history.router, prefix="/api/v1")
    app.include_router(jobs_search.router, prefix="/api/v1")
    app.include_router(operations.router, prefix="/api/v1")
    app.include_router(exports.router, prefix="/api/v1")
    app.include_router(freshness.router, prefix="/api/v1")
    app.include_router(workers.router, prefix="/api/v1")
    app.include_router(bulk.router, prefix="/api/v1")
    app.include_router(tenants.router, prefix="/api/v1")
    docs.install(app)
    dashboard.install(app)
    return app
