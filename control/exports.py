"""Starting and following exports: what the API's `/exports` and `jobsctl export` both call."""

from __future__ import annotations

import uuid
from typing import Any

from db import export_files
from db.engine import get_engine


def start(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate `fields` (the export payload, camelCase or snake_case), record it `pending`, enqueue it.

    Raises `InvalidPayload` naming the field, `ExportIdTaken` (an `InvalidPayload`) for an
    export id that is recorded already: its file is another export's. The row exists before the
    job is sent, so the export can be looked up at once, and it names the job that will write it.
    """
    from actors._base import validate_payload
    from actors.exports import ExportIdTaken, ExportRequest, export_data

    request = validate_payload("export_data", ExportRequest, (), fields)
    message = export_data.message_with_options(kwargs=request.model_dump(mode="json"))
    with get_engine().begin() as connection:
        if not export_files.create_export(connection, request.export_id, request.spec(), job_id=message.message_id):
            raise ExportIdTaken(request.export_id)
    try:
        export_data.broker.enqueue(message)
    except Exception as error:
        with get_engine().begin() as connection:
            export_files.set_status(connection, request.export_id, "failed", error=f"could not enqueue: {error}")
        raise
    return {"exportId": request.export_id, "status": "pending", "jobId": message.message_id}


def find(export_id: str) -> dict[str, Any]:
    """The export's row; `ExportNotFound` for an unknown id or one that is not a UUID."""
    try:
        export_id = str(uuid.UUID(export_id))
    except ValueError:
        raise export_files.ExportNotFound(f"no export {export_id!r}") from None
    with get_engine().connect() as connection:
        return export_files.get_export(connection, export_id)


def describe(export_id: str) -> dict[str, Any]:
    return export_files.describe(find(export_id))


def recent(limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    with get_engine().connect() as connection:
        return [export_files.describe(row) for row in export_files.list_exports(connection, limit, offset)]
