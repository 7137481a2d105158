"""Data exports: the query of an export, its file, and the two ways of writing it.

`stream_copy` streams PostgreSQL `COPY (query) TO STDOUT` into the file as it arrives, for
rows that go out as they are; `stream_pandas` reads chunks from a server-side cursor and
writes them with pandas, for rows that need transforming and for databases without COPY.
Both write one dialect: CSV with a header row, comma, minimal quoting and `\\n`; JSON lines
(one object per line); or a JSON array of those objects. For CSV the two write the same
bytes (`db.copy_csv` writes COPY's text forms and quoting from pandas frames).

CSV files are meant for spreadsheets: text cells that start like a formula (`=`, `+`, `-`,
`@`, tab, carriage return) get a leading `'` in the query itself, so both paths share it;
`csv_escape_formulas=False` turns that off for machine consumers. Numbers are never altered.

Filters are bound parameters, never SQL text; file names are `<export id>.<ext>` under
`EXPORT_DIR`, with the id a UUID, so no caller can steer a file outside it. Files are
written through a temporary file made in EXPORT_DIR with O_EXCL|O_NOFOLLOW and renamed into
place (`core.file_writes`), so a symlink planted there is never written through.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Select,
    cast,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.csv_escape import escaped_text
from core.file_writes import replacing
from db import copy_csv
from db.models import AdEvent, AnalyticsRollup, Export
from db.rollups import SQLITE_BUCKET
from errors import InvalidInput, NotFound
from settings import get_settings

if TYPE_CHECKING:
    import pandas as pd

ExportFormat = Literal["csv", "json", "jsonl"]
ExportGranularity = Literal["raw", "hour", "day", "week", "month"]
EXTENSIONS: dict[str, str] = {"csv": "csv", "json": "json", "jsonl": "jsonl"}
#: Rows per pandas chunk; bounds the pandas path's memory.
PANDAS_CHUNK_ROWS = 50_000
#: Bytes between progress reports on the COPY path.
PROGRESS_EVERY_BYTES = 8 << 20

#: The session's float output for COPY: shortest exact digits, as `copy_csv.float_text` writes them.
SET_FLOAT_DIGITS = "SET LOCAL extra_float_digits = 1"
SET_UTC = "SET LOCAL TimeZone = 'UTC'"

#: Told the rows written so far (the COPY path: lines, a header included).
Progress = Callable[[int], None]


class ExportNotFound(NotFound):
    """Raised for an export id the exports table does not hold."""


class UnsafeExportPath(InvalidInput):
    """Raised when a file name would resolve outside EXPORT_DIR."""


@dataclass(frozen=True)
class ExportSpec:
    publisher_id: str
    format: ExportFormat
    start_date: date
    end_date: date
    granularity: ExportGranularity = "day"
    #: Column name to allowed values: `country`, `device`, `ad_unit_id`.
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: CSV only: prefix text cells that start like a formula with `'` (off for machine consumers).
    csv_escape_formulas: bool = True

    @property
    def escapes_formulas(self) -> bool:
        return self.format == "csv" and self.csv_escape_formulas


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    rows: int
    bytes: int


# Where files go ---------------------------------------------------------------------------


def export_dir() -> Path:
    directory = get_settings().export_dir.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def export_path(export_id: str, fmt: str) -> Path:
    """The file of an export: `<EXPORT_DIR>/<uuid>.<ext>`; anything else is refused."""
    try:
        canonical = str(uuid.UUID(export_id))
    except (ValueError, TypeError, AttributeError):
        raise UnsafeExportPath(f"export id {export_id!r} is not a UUID") from None
    if fmt not in EXTENSIONS:
        raise UnsafeExportPath(f"export format {fmt!r} is not one of {', '.join(EXTENSIONS)}")
    directory = export_dir()
    # Not resolved: a symlink planted under this name is replaced by the rename, never followed.
    path = directory / f"{canonical}.{EXTENSIONS[fmt]}"
    if path.parent != directory:  # pragma: no cover - a UUID cannot escape; kept as a guard
        raise UnsafeExportPath(f"export file {path} is outside {directory}")
    return path


def downloadable_path(stored: str | None) -> Path | None:
    """A stored file path, if it still exists and lies inside EXPORT_DIR."""
    if not stored:
        return None
    directory = export_dir()
    path = Path(stored).resolve()
    if not path.is_relative_to(directory) or not path.is_file():
        return None
    return path


# What rows go out ---------------------------------------------------------------------------


def _day_range(spec: ExportSpec) -> tuple[datetime, datetime]:
    return (
        datetime.combine(spec.start_date, time.min, tzinfo=UTC),
        datetime.combine(spec.end_date + timedelta(days=1), time.min, tzinfo=UTC),
    )


def _bucket(dialect: str, granularity: str) -> Any:
    if dialect == "postgresql":
        return literal_column(f"(date_trunc('{granularity}', ad_events.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')")
    return literal_column(SQLITE_BUCKET[granularity].replace("ts", "ad_events.ts"))


def _as_is(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return column


def export_query(spec: ExportSpec, dialect: str) -> Select[Any]:
    """The rows of an export, ordered, with every filter a bound parameter.

    Rollups come from `analytics_rollups`; filtered by country or device (which rollups do not
    keep), they are aggregated from the raw events on the fly with the rollups' formulas. Text
    columns are formula-escaped when the spec asks for it; filters and ordering use the stored values.
    """
    first, last = _day_range(spec)
    filters = dict(spec.filters)
    text: Callable[[ColumnElement[Any]], ColumnElement[Any]] = escaped_text if spec.escapes_formulas else _as_is
    if spec.granularity == "raw":
        e = AdEvent.__table__.c
        query = select(
            e.ts,
            text(e.publisher_id),
            text(e.ad_unit_id),
            text(e.country),
            text(e.device),
            e.ad_requests,
            e.impressions,
            e.clicks,
            e.revenue,
        ).where(e.publisher_id == spec.publisher_id, e.ts >= first, e.ts < last)
        for column, values in filters.items():
            query = query.where(e[column].in_(values))
        return query.order_by(e.ts, e.ad_unit_id, e.country, e.device, e.id)

    if "country" in filters or "device" in filters:
        e = AdEvent.__table__.c
        bucket = _bucket(dialect, spec.granularity).label("bucket_start")
        impressions = func.sum(e.impressions)
        query = (
            select(
                bucket,
                text(e.publisher_id),
                text(e.ad_unit_id),
                func.sum(e.ad_requests).label("ad_requests"),
                impressions.label("impressions"),
                func.sum(e.clicks).label("clicks"),
                func.sum(e.revenue).label("revenue"),
                (cast(func.sum(e.clicks), Float) / func.nullif(impressions, 0)).label("ctr"),
                (cast(impressions, Float) / func.nullif(func.sum(e.ad_requests), 0)).label("fill_rate"),
                (cast(func.sum(e.revenue), Float) * 1000 / func.nullif(impressions, 0)).label("ecpm"),
            )
            .where(e.publisher_id == spec.publisher_id, e.ts >= first, e.ts < last)
            .group_by(bucket, e.publisher_id, e.ad_unit_id)
        )
        for column, values in filters.items():
            query = query.where(e[column].in_(values))
        # Whole buckets only: a week or month must start inside the range.
        return query.order_by(literal_column("bucket_start"), e.ad_unit_id)

    r = AnalyticsRollup.__table__.c
    rollups = select(
        r.bucket_start,
        text(r.publisher_id),
        text(r.ad_unit_id),
        r.ad_requests,
        r.impressions,
        r.clicks,
        r.revenue,
        r.ctr,
        r.fill_rate,
        r.ecpm,
    ).where(
        r.granularity == spec.granularity,
        r.publisher_id == spec.publisher_id,
        r.bucket_start >= first,
        r.bucket_start < last,
    )
    if "ad_unit_id" in filters:
        rollups = rollups.where(r.ad_unit_id.in_(filters["ad_unit_id"]))
    return rollups.order_by(r.bucket_start, r.ad_unit_id)


def count_rows(connection: Connection, spec: ExportSpec) -> int:
    query = export_query(spec, connection.dialect.name).order_by(None).subquery()
    return int(connection.execute(select(func.count()).select_from(query)).scalar_one())


# Writing files --------------------------------------------------------------------------------


def _copy_statement(spec: ExportSpec) -> tuple[str, dict[str, Any]]:
    compiled = export_query(spec, "postgresql").compile(
        dialect=postgresql.psycopg.dialect(), compile_kwargs={"render_postcompile": True}
    )
    body = str(compiled)
    if spec.format == "csv":
        return f"COPY ({body}) TO STDOUT WITH (FORMAT csv, HEADER)", dict(compiled.params)
    # JSON text through COPY's CSV format with a quote and a delimiter that JSON never holds
    # raw (row_to_json escapes control characters), so COPY adds no escaping of its own.
    statement = (
        f"COPY (SELECT row_to_json(t)::text FROM ({body}) AS t) TO STDOUT "
        "WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
    )
    return statement, dict(compiled.params)


def stream_copy(connection: Connection, spec: ExportSpec, out: IO[bytes], progress: Progress | None = None) -> int:
    """Stream COPY's output into `out`; returns the rows written (PostgreSQL only)."""
    statement, params = _copy_statement(spec)
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(SET_UTC)
        cursor.execute(SET_FLOAT_DIGITS)
        if spec.format == "json":
            out.write(b"[\n")
        lines = 0
        since_report = 0
        pending = b""
        with cursor.copy(statement, params) as copy:
            for chunk in copy:
                data = bytes(chunk)
                if spec.format == "json":
                    # Objects one per line; separate them with commas, holding back the last newline.
                    data = pending + data
                    cut = data.rfind(b"\n") + 1
                    data, pending = data[:cut].replace(b"\n", b",\n"), data[cut:]
                out.write(data)
                lines += data.count(b"\n")
                since_report += len(data)
                if progress is not None and since_report >= PROGRESS_EVERY_BYTES:
                    since_report = 0
                    progress(lines)
        rows = max(cursor.rowcount, 0)
        if spec.format == "json":
            out.write(pending)
            if rows:
                out.seek(out.tell() - 2)  # the last ",\n"
                out.truncate()
                out.write(b"\n")
            out.write(b"]\n")
    return rows


def _frames(connection: Connection, spec: ExportSpec) -> Any:
    query = export_query(spec, connection.dialect.name)
    streaming = connection.execution_options(stream_results=True, max_row_buffer=PANDAS_CHUNK_ROWS)
    import pandas as pd  # here, not at the top: the COPY path runs without pandas in memory (~60 MB)

    # Decimals kept: CSV writes numerics with their scale, as COPY does (JSON makes them floats).
    return pd.read_sql(query, streaming, chunksize=PANDAS_CHUNK_ROWS, coerce_float=False)


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    for column in ("ts", "bucket_start"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def stream_pandas(connection: Connection, spec: ExportSpec, out: IO[bytes], progress: Progress | None = None) -> int:
    """Write the export from chunks of a server-side cursor with pandas; returns rows written."""
    rows = 0
    for index, frame in enumerate(_frames(connection, spec)):
        frame = _tidy(frame)
        if spec.format == "csv":
            text = (copy_csv.header_line(frame.columns) if index == 0 else "") + copy_csv.csv_lines(frame)
        else:
            if "revenue" in frame:
                frame["revenue"] = frame["revenue"].astype(float)
            text = frame.to_json(orient="records", lines=True, date_format="iso", date_unit="s")
            if text and not text.endswith("\n"):
                text += "\n"
            if spec.format == "json":
                text = ("[\n" if index == 0 else ",\n") + text.rstrip("\n").replace("\n", ",\n")
        out.write(text.encode())
        rows += len(frame)
        if progress is not None:
            progress(rows)
    if spec.format == "json":
        out.write(b"\n]\n" if rows else b"[\n]\n")
    elif rows == 0 and spec.format == "csv":
        columns = export_query(spec, connection.dialect.name).selected_columns
        out.write(copy_csv.header_line(column.name for column in columns).encode())
    return rows


def write_export(
    connection: Connection,
    spec: ExportSpec,
    path: Path,
    *,
    method: Literal["auto", "copy", "pandas"] = "auto",
    progress: Progress | None = None,
) -> WrittenFile:
    """Write the export to `path` through a new `.part` file renamed at the end (a rerun replaces it)."""
    if method == "auto":
        method = "copy" if connection.dialect.name == "postgresql" else "pandas"
    with replacing(path) as out:
        writer = stream_copy if method == "copy" else stream_pandas
        rows = writer(connection, spec, out, progress)
        out.flush()
        size = os.fstat(out.fileno()).st_size
    return WrittenFile(path=path, rows=rows, bytes=size)


# The exports table ------------------------------------------------------------------------------


def _insert(connection: Connection):  # type: ignore[no-untyped-def]
    return pg_insert if connection.dialect.name == "postgresql" else sqlite_insert


def create_export(connection: Connection, export_id: str, spec: ExportSpec, job_id: str | None = None) -> bool:
    """Record an export as `pending`; False (and nothing changed) when the id is recorded already."""
    values = {
        "id": export_id,
        "publisher_id": spec.publisher_id,
        "format": spec.format,
        "granularity": spec.granularity,
        "start_date": spec.start_date,
        "end_date": spec.end_date,
        "filters": {column: list(values) for column, values in spec.filters},
        "status": "pending",
        "job_id": job_id,
    }
    statement = _insert(connection)(Export).values(**values).on_conflict_do_nothing(index_elements=["id"])
    return connection.execute(statement.returning(Export.id)).first() is not None


def get_export(connection: Connection, export_id: str) -> dict[str, Any]:
    table = Export.__table__
    row = connection.execute(select(table).where(table.c.id == export_id)).mappings().first()
    if row is None:
        raise ExportNotFound(f"export {export_id!r} not found")
    return dict(row)


def list_exports(connection: Connection, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Exports, newest first."""
    table = Export.__table__
    rows = connection.execute(
        select(table).order_by(table.c.created_at.desc(), table.c.id).limit(limit).offset(offset)
    ).mappings()
    return [dict(row) for row in rows]


def count_exports(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(Export.__table__)).scalar_one())


def set_status(connection: Connection, export_id: str, status: str, **values: Any) -> None:
    if status == "processing":
        values.setdefault("started_at", datetime.now(UTC))
    if status in ("completed", "failed"):
        values.setdefault("finished_at", datetime.now(UTC))
    connection.execute(update(Export).where(Export.id == export_id).values(status=status, **values))


def set_job(connection: Connection, export_id: str, job_id: str | None) -> None:
    """Make `job_id` the export's job (an operator's retry of the job that had it)."""
    connection.execute(update(Export).where(Export.id == export_id).values(job_id=job_id))


def describe(export: dict[str, Any]) -> dict[str, Any]:
    """An export as the API shows it (camelCase, ISO dates)."""

    def iso(value: Any) -> Any:
        return value.isoformat() if isinstance(value, date | datetime) else value

    return {
        "exportId": export["id"],
        "publisherId": export["publisher_id"],
        "format": export["format"],
        "granularity": export["granularity"],
        "startDate": iso(export["start_date"]),
        "endDate": iso(export["end_date"]),
        "filters": export["filters"] or {},
        "status": export["status"],
        "rowCount": export["row_count"],
        "bytes": export["bytes"],
        "error": export["error"],
        "jobId": export["job_id"],
        "createdAt": iso(export["created_at"]),
        "startedAt": iso(export["started_at"]),
        "finishedAt": iso(export["finished_at"]),
        "downloadable": downloadable_path(export["file_path"]) is not None,
    }


__all__ = [
    "ExportFormat",
    "ExportGranularity",
    "ExportNotFound",
    "ExportSpec",
    "UnsafeExportPath",
    "count_rows",
    "create_export",
    "describe",
    "downloadable_path",
    "export_path",
    "export_query",
    "get_export",
    "list_exports",
    "set_job",
    "set_status",
    "write_export",
]
