"""Loading an event file into `ad_events`: `load_file(path)`, used by `jobsctl ingest` and the
`ingest_events` actor.

One transaction per file. It first claims the file's SHA-256 in `ingest_batches` (a second
load of the same bytes, even running at the same moment, finds the claim and adds nothing).
On PostgreSQL the checked rows stream through COPY into a temporary staging table while the
file is read, then one `INSERT ... SELECT` moves them into `ad_events` (after
`ensure_partitions` for their days), so the trigger on `ad_events` runs once for the file:
it registers unknown publishers and marks the hours touched as stale. On SQLite (the embedded
default) the rows go in with executemany. A bad row refuses the whole file (RefusedFile, the
transaction rolls back) unless `skip_bad`, which loads the rest and writes every refused row,
with its line and reason, to a rejects file. pyarrow loads when a file is loaded, not when the
ingest actor is imported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text

from db.engine import get_engine
from db.event_checks import CheckedBatch, check_batch
from db.event_files import COLUMNS, RawBatch, RefusedFile, Reject, file_format, read_batches
from db.models import AdEvent, Publisher
from db.partitions import ensure_partitions

#: Called as the file is read with (done, total): bytes for CSV and JSON lines, rows for Parquet.
Progress = Callable[[int, int], None]

#: Rejected rows of `events.csv` go to `events.csv.rejects.csv` (next to it, or in `rejects_dir`).
REJECTS_SUFFIX = ".rejects.csv"
#: Refused rows shown in a RefusedFile (the rejects file has them all).
SHOWN_REJECTS = 5
_CENTS = Decimal("0.000001")

_COLUMN_LIST = ", ".join(COLUMNS)
_TS_FROM_US = "timestamptz 'epoch' + ts_us * interval '1 microsecond'"
#: The staging table holds `ts` as microseconds since the epoch (UTC): Arrow writes integers
#: ten times faster than formatted times, and the move into `ad_events` converts them exactly.
_CREATE_STAGING = (
    "CREATE TEMP TABLE ingest_staging (line bigint NOT NULL, ts_us bigint NOT NULL,"
    " publisher_id varchar(64) NOT NULL, ad_unit_id varchar(64) NOT NULL, country varchar(2) NOT NULL,"
    " device varchar(16) NOT NULL, ad_requests integer NOT NULL, impressions integer NOT NULL,"
    " clicks integer NOT NULL, revenue numeric(18, 6) NOT NULL) ON COMMIT DROP"
)
_STAGED_COLUMNS = _COLUMN_LIST.replace("ts, ", "ts_us, ", 1)
_COPY_STAGING = f"COPY ingest_staging (line, {_STAGED_COLUMNS}) FROM STDIN (FORMAT csv)"
_MOVE_STAGED = (
    f"INSERT INTO ad_events ({_COLUMN_LIST})"
    f" SELECT {_STAGED_COLUMNS.replace('ts_us', _TS_FROM_US, 1)} FROM ingest_staging"
)
_CLAIM = (
    "INSERT INTO ingest_batches (checksum, file_name, file_format, file_bytes, rows, loaded_by)"
    " VALUES (:checksum, :file_name, :file_format, :file_bytes, 0, :loaded_by)"
    " ON CONFLICT (checksum) DO NOTHING RETURNING checksum"
)
_FIND = (
    "SELECT file_name, rows, rejected, publishers, first_ts, last_ts, rejects_path, loaded_at"
    " FROM ingest_batches WHERE checksum = :checksum"
)
_RECORD = (
    "UPDATE ingest_batches SET rows = :rows, rejected = :rejected, publishers = :publishers,"
    " first_ts = :first_ts, last_ts = :last_ts, rejects_path = :rejects_path, seconds = :seconds"
    " WHERE checksum = :checksum"
)


@dataclass
class IngestResult:
    """What loading one file did. `status` is 'loaded' or 'already loaded' (nothing added)."""

    path: str
    file_format: str
    checksum: str
    status: str
    rows: int = 0
    rejected: int = 0
    publishers: int = 0
    #: Publishers the load registered (they had no row in `publishers` before).
    new_publishers: list[str] = field(default_factory=list)
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    rejects_path: str | None = None
    seconds: float = 0.0
    loaded_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in asdict(self).items()}


def file_checksum(path: Path) -> str:
    """Hex SHA-256 of the file's bytes: the key of its batch."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def rejects_path_for(path: Path, rejects_dir: Path | None = None) -> Path:
    return ((rejects_dir or path.parent) / f"{path.name}{REJECTS_SUFFIX}").absolute()


def load_file(
    path: Path | str,
    *,
    skip_bad: bool = False,
    progress: Progress | None = None,
    rejects_dir: Path | None = None,
    loaded_by: str = "jobsctl",
    engine: Engine | None = None,
) -> IngestResult:
    """Load one CSV / JSON lines / Parquet event file into `ad_events`, at most once per checksum.

    Raises RefusedFile (nothing loaded) for a file that is not an event file or, without
    `skip_bad`, has a bad row; FileNotFoundError when there is no such file.
    """
    path = Path(path)
    started = time.monotonic()
    fmt = file_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    checksum = file_checksum(path)
    result = IngestResult(path=str(path), file_format=fmt, checksum=checksum, status="loaded")
    rejects = _RejectsFile(rejects_path_for(path.absolute(), rejects_dir)) if skip_bad else None
    try:
        with (engine or get_engine()).begin() as connection:
            claim = {
                "checksum": checksum,
                "file_name": path.name,
                "file_format": fmt,
                "file_bytes": path.stat().st_size,
                "loaded_by": loaded_by,
            }
            if connection.execute(text(_CLAIM), claim).first() is None:
                return _already_loaded(connection, result)
            publishers: set[str] = set()
            batches = _checked(path, read_batches(path, fmt), rejects, result, publishers, progress)
            if connection.dialect.name == "postgresql":
                _load_postgres(connection, batches, result, publishers)
            else:
                _load_plain(connection, batches, result)
            result.seconds = round(time.monotonic() - started, 3)
            result.rejects_path = str(rejects.path) if rejects and result.rejected else None
            connection.execute(
                text(_RECORD),
                {
                    "checksum": checksum,
                    "rows": result.rows,
                    "rejected": result.rejected,
                    "publishers": result.publishers,
                    "first_ts": result.first_ts,
                    "last_ts": result.last_ts,
                    "rejects_path": result.rejects_path,
                    "seconds": result.seconds,
                },
            )
    except BaseException:
        if rejects:
            rejects.discard()
        raise
    if rejects and result.rejected:
        rejects.keep()
    elif rejects:
        rejects.discard()
    result.loaded_at = datetime.now(UTC)
    return result


def _already_loaded(connection: Connection, result: IngestResult) -> IngestResult:
    row = connection.execute(text(_FIND), {"checksum": result.checksum}).one()
    result.status = "already loaded"
    result.rows, result.rejected, result.publishers = int(row.rows), int(row.rejected), int(row.publishers)
    result.first_ts, result.last_ts, result.rejects_path = row.first_ts, row.last_ts, row.rejects_path
    result.loaded_at = row.loaded_at
    return result


class _RejectsFile:
    """The rejects CSV (line, reason, the nine fields as read, the raw line), written to a
    `.part` file and kept only when the load commits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".part")
        self._handle: io.TextIOWrapper | None = None
        self._writer: Any = None

    def write(self, reject: Reject) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.partial.open("w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(["line", "reason", *COLUMNS, "raw"])
        values = reject.values or {}
        self._writer.writerow(
            [reject.line, reject.reason, *(values.get(name, "") for name in COLUMNS), reject.raw or ""]
        )

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def keep(self) -> None:
        self._close()
        self.partial.replace(self.path)

    def discard(self) -> None:
        self._close()
        self.partial.unlink(missing_ok=True)


def _checked(
    path: Path,
    batches: Iterator[RawBatch],
    rejects: _RejectsFile | None,
    result: IngestResult,
    publishers: set[str],
    progress: Progress | None,
) -> Iterator[CheckedBatch]:
    """The checked batches; refused rows go to the rejects file, or refuse the file.
    Counts rows and times into `result` and collects the publisher ids into `publishers`."""
    import pyarrow.compute as pc  # heavy: loaded when a file is loaded, not with the actors

    for raw in batches:
        checked = check_batch(raw)
        if checked.rejects:
            if rejects is None:
                first = checked.rejects[0]
                raise RefusedFile(
                    path,
                    f"line {first.line}: {first.reason}",
                    rejects=checked.rejects[:SHOWN_REJECTS],
                    bad_rows=len(checked.rejects),
                )
            for reject in checked.rejects:
                rejects.write(reject)
            result.rejected += len(checked.rejects)
        table = checked.table
        if table.num_rows:
            result.rows += table.num_rows
            publishers.update(pc.unique(table.column("publisher_id")).to_pylist())
            low, high = pc.min_max(table.column("ts")).values()
            low, high = low.as_py(), high.as_py()
            result.first_ts = low if result.first_ts is None else min(result.first_ts, low)
            result.last_ts = high if result.last_ts is None else max(result.last_ts, high)
        result.publishers = len(publishers)
        yield checked
        if progress:
            progress(raw.done, raw.total)


def _unknown_publishers(connection: Connection, ids: list[str]) -> list[str]:
    known: set[str] = set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        known.update(connection.execute(select(Publisher.id).where(Publisher.id.in_(chunk))).scalars())
    return [publisher for publisher in ids if publisher not in known]


def _load_postgres(
    connection: Connection, batches: Iterator[CheckedBatch], result: IngestResult, publishers: set[str]
) -> None:
    import pyarrow as pa  # heavy: loaded when a file is loaded, not with the actors
    import pyarrow.csv as pa_csv

    raw = connection.connection.driver_connection
    assert raw is not None
    options = pa_csv.WriteOptions(include_header=False)
    with raw.cursor() as cursor:
        cursor.execute(_CREATE_STAGING)
        with cursor.copy(_COPY_STAGING) as copy:
            for checked in batches:
                if checked.table.num_rows:
                    table = checked.table
                    table = table.set_column(1, "ts_us", table.column("ts").cast(pa.int64()))
                    sink = pa.BufferOutputStream()
                    pa_csv.write_csv(table, sink, options)
                    copy.write(memoryview(sink.getvalue()))
    if not result.rows:
        return
    assert result.first_ts is not None and result.last_ts is not None
    ensure_partitions(connection, result.first_ts.astimezone(UTC).date(), result.last_ts.astimezone(UTC).date())
    result.new_publishers = _unknown_publishers(connection, sorted(publishers))
    with raw.cursor() as cursor:
        cursor.execute(_MOVE_STAGED)


def _load_plain(connection: Connection, batches: Iterator[CheckedBatch], result: IngestResult) -> None:
    """SQLite (no partitions, no COPY): executemany a batch at a time; the embedded demo's files are small.

    Its row-level trigger registers publishers as rows go in, so each batch's unknown ones are found first."""
    seen: set[str] = set()
    for checked in batches:
        rows = checked.table.drop_columns(["line"]).to_pylist()
        if not rows:
            continue
        fresh = sorted({row["publisher_id"] for row in rows} - seen)
        seen.update(fresh)
        result.new_publishers.extend(_unknown_publishers(connection, fresh))
        for row in rows:
            row["revenue"] = Decimal(row["revenue"]).quantize(_CENTS)
        connection.execute(insert(AdEvent), rows)
