"""Schedules, pipeline runs and dead letters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import Role, require_admin, require_read
from api.envelope import ERRORS, Envelope, ok
from api.errors import NotFound
from control import dead_letters, service
from db import pipelines
from db.engine import get_engine
from scheduling import dispatcher

router = APIRouter(dependencies=[Depends(require_read)], responses=ERRORS)
Admin = [Depends(require_admin)]


@router.get("/whoami", response_model=Envelope, tags=["auth"], summary="The role of the token: read or admin")
def whoami(role: Role = Depends(require_read)) -> Any:
    return ok({"role": role})


@router.get("/scheduler", response_model=Envelope, tags=["scheduler"], summary="Schedules with their next runs")
def schedules(runs: Annotated[int, Query(ge=1, le=50)] = 5) -> Any:
    return ok(dispatcher.describe(runs=runs))


@router.post("/scheduler/{name}/start", response_model=Envelope, dependencies=Admin, tags=["scheduler"])
def start_schedule(name: str) -> Any:
    return ok(dispatcher.set_enabled(name, True))


@router.post("/scheduler/{name}/stop", response_model=Envelope, dependencies=Admin, tags=["scheduler"])
def stop_schedule(name: str) -> Any:
    return ok(dispatcher.set_enabled(name, False))


@router.post(
    "/scheduler/{name}/trigger", response_model=Envelope, dependencies=Admin, tags=["scheduler"], summary="Run now"
)
def trigger_schedule(name: str) -> Any:
    return ok(dispatcher.trigger(name))


@router.get("/pipelines", response_model=Envelope, tags=["pipelines"], summary="Pipeline runs, newest first")
def pipeline_runs(
    limit: Annotated[int, Query(ge=1, le=200)] = 20, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0
) -> Any:
    with get_engine().connect() as connection:
        runs = pipelines.list_runs(connection, limit, offset)
        page = {"total": pipelines.count_runs(connection), "limit": limit, "offset": offset}
    return ok(runs, page=page)


@router.get("/pipelines/{run_id}", response_model=Envelope, tags=["pipelines"], summary="A run and its stages")
def pipeline_run(run_id: str) -> Any:
    if len(run_id) > service.MAX_JOB_ID or "\x00" in run_id:
        raise NotFound(f"no pipeline run {run_id!r}")
    with get_engine().connect() as connection:
        run = pipelines.get_run(connection, run_id)
    if run is None:
        raise NotFound(f"no pipeline run {run_id!r}")
    return ok(run)


@router.get("/dead-letters", response_model=Envelope, tags=["jobs"], summary="Dead letters, newest first")
def dead_letter_list(
    queue: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Any:
    if queue is not None:
        service.check_queue(queue)
    counts = dead_letters.count_dead(queue)
    page = {"total": sum(counts.values()), "limit": limit, "offset": offset}
    return ok({"counts": counts, "letters": dead_letters.list_dead(queue, limit=limit, offset=offset)}, page=page)
