"""Data exports: rollups or raw events of a publisher to CSV, JSON lines or a JSON array file.

The export's row moves `pending` → `processing` → `completed` (row count, bytes, file) or
`failed` (error). A rerun of the same export (a redelivery of its message after a crash, or an
operator's retry of its job) writes the same file again through a `.part` file, so readers
never see half a file; any other job naming an export id that exists is refused
(`ExportIdTaken`), so no job can overwrite another export's file.

CSV text cells that start like a formula are escaped for spreadsheets unless the payload says
`csv_escape_formulas=False` (`csvEscapeFormulas` in the API).

`request_export` starts one (the API's `POST /exports` and `jobsctl export` both call it), and
`find_export`, `describe_export` and `recent_exports` follow them.
"""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Annotated, Any

from dramatiq.middleware import CurrentMessage
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from actors._base import job_actor
from actors.progress import report_progress
from core.payloads import InvalidPayload, JobPayload, PermanentJobError, validate_payload
from db import export_files
from db.engine import get_engine
from db.export_files import ExportFormat, ExportGranularity, ExportSpec
from db.publishers import publisher_known
from wiring.broker import get_broker

Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Device = Annotated[str, StringConstraints(pattern=r"^[a-z]{1,16}$")]
AdUnit = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class ExportFilters(BaseModel):
    """Optional filters; each takes one value or a list of values."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: Two-letter country codes; one code or a list.
    country: list[Country] | None = Field(default=None, max_length=250)
    #: Device names (`mobile`, `desktop`, ...); one or a list.
    device: list[Device] | None = Field(default=None, max_length=20)
    #: Ad unit ids; one or a list.
    ad_unit_id: list[AdUnit] | None = Field(default=None, max_length=1000, alias="adUnitId")

    @field_validator("country", "device", "ad_unit_id", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def pairs(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return tuple(
            (column, tuple(values))
            for column in ("country", "device", "ad_unit_id")
            if (values := getattr(self, column))
        )


class ExportIdTaken(InvalidPayload):
    """Raised when an export id already names another export: the job would overwrite its file."""

    def __init__(self, export_id: str) -> None:
        super().__init__(
            "export_data",
            f"field 'export_id': export {export_id} exists already; "
            "leave export_id out to start a new export, or retry that export's own job",
        )


class ExportRequest(JobPayload):
    #: Made at `send()` when absent, so the caller can look the export up by it.
    export_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    #: The publisher whose rows are exported (registered, or with events).
    publisher_id: str = Field(min_length=1, max_length=64)
    #: `csv` (with a header), `json` (one array), `jsonl` (an object a line).
    format: ExportFormat
    #: First UTC day.
    start_date: date
    #: Last UTC day, included; not before `start_date`.
    end_date: date
    #: `raw` for the events themselves, else the rollups of that granularity.
    granularity: ExportGranularity = "day"
    #: Only rows matching every filter given.
    filters: ExportFilters = ExportFilters()
    #: CSV only: prefix text cells starting with `=`, `+`, `-`, `@`, tab or CR with `'` (OWASP).
    csv_escape_formulas: bool = True

    @field_validator("export_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError(f"export_id {value!r} is not a UUID") from None

    @model_validator(mode="after")
    def _ordered(self) -> ExportRequest:
        if self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        if (self.end_date - self.start_date).days > 366:
            raise ValueError("an export covers at most 366 days")
        return self

    def spec(self) -> ExportSpec:
        return ExportSpec(
            publisher_id=self.publisher_id,
            format=self.format,
            start_date=self.start_date,
            end_date=self.end_date,
            granularity=self.granularity,
            filters=self.filters.pairs(),
            csv_escape_formulas=self.csv_escape_formulas,
        )


def _final_attempt() -> bool:
    message = CurrentMessage.get_current_message()
    if message is None:
        return True
    actor = get_broker().get_actor(message.actor_name)
    max_retries = message.options.get("max_retries", actor.options.get("max_retries", 0))
    return int(message.options.get("retries", 0)) >= int(max_retries)


class _Progress:
    """Reports progress per chunk against the row count, at most twice a second."""

    def __init__(self, total_rows: int) -> None:
        self.total = max(total_rows, 1)
        self.last = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.5:
            return
        self.last = now
        report_progress(min(99, 100 * done / self.total))


def _may_write(existing: dict[str, Any], job_id: str | None, retry_of: str | None) -> bool:
    """Whether a job may write an export recorded already: its own job may (a redelivery, a retry
    attempt), and so may an operator's retry of that job (a new job whose `retry_of` names it)."""
    return existing["job_id"] == job_id or (existing["job_id"] is not None and retry_of == existing["job_id"])


@job_actor(queue="data-export", payload=ExportRequest, tenant_field="publisher_id")
def export_data(request: ExportRequest) -> dict[str, Any]:
    engine = get_engine()
    spec = request.spec()
    message = CurrentMessage.get_current_message()
    job_id = message.message_id if message else None
    with engine.begin() as connection:
        created = export_files.create_export(connection, request.export_id, spec, job_id)
        existing = export_files.get_export(connection, request.export_id)
        if not created:
            if not _may_write(existing, job_id, message.options.get("retry_of") if message else None):
                raise ExportIdTaken(request.export_id)
            if existing["job_id"] != job_id:
                export_files.set_job(connection, request.export_id, job_id)  # the retry now owns the export
        if existing["status"] == "completed" and export_files.downloadable_path(existing["file_path"]):
            return {"export_id": request.export_id, "rows": existing["row_count"], "skipped": "already completed"}
        unknown = not publisher_known(connection, request.publisher_id)
        if unknown:
            export_files.set_status(
                connection, request.export_id, "failed", error=f"unknown publisher {request.publisher_id!r}"
            )
        else:
            export_files.set_status(connection, request.export_id, "processing", error=None)
    if unknown:
        raise PermanentJobError(f"export_data: unknown publisher {request.publisher_id!r}")
    try:
        path = export_files.export_path(request.export_id, request.format)
        with engine.connect() as connection, connection.begin():
            total = export_files.count_rows(connection, spec)
            written = export_files.write_export(connection, spec, path, progress=_Progress(total))
    except Exception as error:
        with engine.begin() as connection:
            status = "failed" if _final_attempt() or isinstance(error, PermanentJobError) else "pending"
            export_files.set_status(connection, request.export_id, status, error=f"{type(error).__name__}: {error}")
        raise
    with engine.begin() as connection:
        export_files.set_status(
            connection,
            request.export_id,
            "completed",
            row_count=written.rows,
            bytes=written.bytes,
            file_path=str(written.path),
            error=None,
        )
    return {"export_id": request.export_id, "rows": written.rows, "bytes": written.bytes, "file": written.path.name}


def request_export(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate `fields` (the export payload, camelCase or snake_case), record it `pending`, enqueue it.

    Raises `InvalidPayload` naming the field, `ExportIdTaken` (an `InvalidPayload`) for an
    export id that is recorded already: its file is another export's. The row exists before the
    job is sent, so the export can be looked up at once, and it names the job that will write it.
    """
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


def find_export(export_id: str) -> dict[str, Any]:
    """The export's row; `ExportNotFound` for an unknown id or one that is not a UUID."""
    try:
        export_id = str(uuid.UUID(export_id))
    except ValueError:
        raise export_files.ExportNotFound(f"no export {export_id!r}") from None
    with get_engine().connect() as connection:
        return export_files.get_export(connection, export_id)


def describe_export(export_id: str) -> dict[str, Any]:
    """The export as the API and `jobsctl export` show it."""
    return export_files.describe(find_export(export_id))


def recent_exports(limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """The latest exports, newest first, as the API shows them."""
    with get_engine().connect() as connection:
        return [export_files.describe(row) for row in export_files.list_exports(connection, limit, offset)]
