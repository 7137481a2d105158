"""The reports table: one row per (publisher, type, period start), rewritten by a rerun."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from db.models import Report


def start_report(
    connection: Connection, publisher_id: str, report_type: str, start: date, end: date, job_id: str | None
) -> dict[str, Any]:
    """The period's report row, made `processing` (a rerun keeps its id and its `emailed_at`)."""
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert(Report).values(
        id=str(uuid.uuid4()),
        publisher_id=publisher_id,
        report_type=report_type,
        period_start=start,
        period_end=end,
        status="processing",
        recipients=[],
        job_id=job_id,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["publisher_id", "report_type", "period_start"],
        set_={"status": "processing", "job_id": job_id, "error": None},
    )
    connection.execute(statement)
    return get_report(connection, publisher_id, report_type, start)


def get_report(connection: Connection, publisher_id: str, report_type: str, start: date) -> dict[str, Any]:
    table = Report.__table__
    row = (
        connection.execute(
            select(table).where(
                table.c.publisher_id == publisher_id, table.c.report_type == report_type, table.c.period_start == start
            )
        )
        .mappings()
        .one()
    )
    return dict(row)


def finish_report(connection: Connection, report_id: str, **values: Any) -> None:
    values.setdefault("finished_at", datetime.now(UTC))
    connection.execute(update(Report).where(Report.id == report_id).values(**values))
