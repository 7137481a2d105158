"""Exports: start one, follow it, download its file."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse

from actors.exports import find_export, recent_exports, request_export
from api.auth import require_admin, require_read
from api.envelope import ERRORS, Envelope, ok
from api.errors import Conflict, NotFound, Unprocessable
from api.schemas import ExportBody, unstorable
from db import export_files
from db.engine import get_engine

router = APIRouter(tags=["exports"], dependencies=[Depends(require_read)], responses=ERRORS)

MEDIA_TYPES = {"csv": "text/csv", "json": "application/json", "jsonl": "application/x-ndjson"}


@router.post(
    "/exports", response_model=Envelope, status_code=201, dependencies=[Depends(require_admin)], summary="Start one"
)
def start_export(body: ExportBody) -> Any:
    if bad := unstorable(body.model_dump(mode="json"), "body"):
        raise Unprocessable(f"{bad}: NUL characters cannot be stored")
    return ok(request_export(body.model_dump(exclude_none=True)))


@router.get("/exports", response_model=Envelope, summary="Exports, newest first")
def list_exports(
    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0
) -> Any:
    with get_engine().connect() as connection:
        total = export_files.count_exports(connection)
    return ok(recent_exports(limit, offset), page={"total": total, "limit": limit, "offset": offset})


@router.get("/exports/{export_id}", response_model=Envelope, summary="An export's status")
def get_export(export_id: str) -> Any:
    return ok(export_files.describe(find_export(export_id)))


@router.get(
    "/exports/{export_id}/download",
    response_class=FileResponse,
    summary="The export's file",
    responses={200: {"description": "the file", "content": {media: {} for media in MEDIA_TYPES.values()}}},
)
def download(export_id: str) -> FileResponse:
    export = find_export(export_id)
    if export["status"] != "completed":
        raise Conflict(f"export {export['id']} is {export['status']}: its file is not ready")
    path = export_files.downloadable_path(export["file_path"])
    if path is None:
        raise NotFound(f"export {export['id']}'s file is gone (removed by the temp_files cleanup)")
    return FileResponse(
        path, media_type=MEDIA_TYPES.get(export["format"], "application/octet-stream"), filename=path.name
    )
