"""Reading the ad servers' event files: CSV with a header row, JSON lines, Parquet.

Each reader yields `RawBatch`es: the nine columns of `ad_events` as Arrow text arrays, the
line each row came from (CSV: the physical line, the header being line 1; JSON lines: the
line; Parquet: the row, from 1), and the records refused while parsing (a CSV line with the
wrong number of fields, a JSON line that is not an object of exactly the nine fields). Values
are checked afterwards, a batch at a time (`db.event_checks`). CSV goes through Arrow's
streaming reader, so a file of millions of rows is read in C a few megabytes at a time.
numpy and pyarrow load when a file is read, not when the ingest actor is imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

#: The columns of an event file: exactly those of `ad_events` (any order in CSV and Parquet).
COLUMNS = ("ts", "publisher_id", "ad_unit_id", "country", "device", "ad_requests", "impressions", "clicks", "revenue")
#: File name endings and the format they mean.
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
#: Rows per batch for JSON lines and Parquet (CSV batches are BLOCK_BYTES of text).
BATCH_ROWS = 65_536
BLOCK_BYTES = 4 << 20


@dataclass(frozen=True)
class Reject:
    """A refused row: where it was, why, and what it held (text values, or the raw line)."""

    line: int
    reason: str
    values: dict[str, Any] | None = None
    raw: str | None = None


class RefusedFile(InvalidInput):
    """Raised when an event file is refused (unreadable, wrong columns, or a bad row without
    skip_bad); nothing of it was loaded. `rejects` holds the first refused rows."""

    def __init__(self, path: Path, message: str, rejects: list[Reject] | None = None, bad_rows: int = 0) -> None:
        self.path = path
        self.rejects = rejects or []
        self.bad_rows = bad_rows or len(self.rejects)
        super().__init__(f"{path.name}: {message}")


@dataclass
class RawBatch:
    """Some rows of a file as text columns, before their values are checked."""

    columns: dict[str, pa.Array]
    lines: np.ndarray
    refused: list[Reject] = field(default_factory=list)
    #: How far through the file this batch ends, and the whole, in the same unit (bytes or rows).
    done: int = 0
    total: int = 0


def file_format(path: Path) -> str:
    """'csv', 'jsonl' or 'parquet' from the file's name; RefusedFile for anything else."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        known = ", ".join(sorted(FORMATS))
        raise RefusedFile(path, f"unknown file type {path.suffix or '(none)'!r}; event files end with {known}")
    return found


def read_batches(path: Path, fmt: str) -> Iterator[RawBatch]:
    """The rows of `path`, a batch at a time. Raises RefusedFile when it is not an event file."""
    readers = {"csv": _csv_batches, "jsonl": _jsonl_batches, "parquet": _parquet_batches}
    return readers[fmt](path)


def _check_columns(path: Path, names: list[str], where: str) -> None:
    duplicated = sorted({name for name in names if names.count(name) > 1})
    missing = [name for name in COLUMNS if name not in names]
    unexpected = [name for name in names if name not in COLUMNS]
    if not (duplicated or missing or unexpected):
        return
    problems = [
        f"{label}: {', '.join(values)}"
        for label, values in (("missing", missing), ("unexpected", unexpected), ("repeated", duplicated))
        if values
    ]
    raise RefusedFile(path, f"{where}: the columns must be exactly {', '.join(COLUMNS)} ({'; '.join(problems)})")


def _csv_batches(path: Path) -> Iterator[RawBatch]:
    import numpy as np  # heavy (numpy, pyarrow): loaded when a file is read, not with the actors
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    total = path.stat().st_size
    skipped: list[Reject] = []

    def on_invalid_row(row: Any) -> str:
        reason = f"expected {row.expected_columns} fields, got {row.actual_columns}"
        skipped.append(Reject(row.number or 0, reason, raw=row.text))
        return "skip"

    with path.open("rb") as handle:
        try:
            reader = pa_csv.open_csv(
                handle,
                read_options=pa_csv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES),
                parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid_row, ignore_empty_lines=False),
                convert_options=pa_csv.ConvertOptions(
                    column_types={name: pa.string() for name in COLUMNS}, strings_can_be_null=False
                ),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as error:
            raise RefusedFile(path, f"line 1: not a CSV file with a header row ({error})") from None
        _check_columns(path, reader.schema.names, "line 1 (the header)")
        rows_before = 0
        reported = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as error:
                raise RefusedFile(path, f"not readable as CSV after data row {rows_before}: {error}") from None
            # The physical line of each row: rows count from line 2, and lines the handler skipped
            # (wrong field counts) are not rows. S_m - m is non-decreasing; searchsorted finds how
            # many skipped lines come before each row's line.
            skipped_lines = np.array(sorted(reject.line for reject in skipped if reject.line), dtype=np.int64)
            index = np.arange(rows_before, rows_before + batch.num_rows, dtype=np.int64) + 2
            shift = skipped_lines - np.arange(len(skipped_lines), dtype=np.int64)
            lines = index + np.searchsorted(shift, index, side="right")
            rows_before += batch.num_rows
            refused, reported = skipped[reported:], len(skipped)
            yield RawBatch(
                columns={name: batch.column(name) for name in COLUMNS},
                lines=lines,
                refused=refused,
                done=min(handle.tell(), total),
                total=total,
            )
        if len(skipped) > reported:
            yield RawBatch(
                columns=_empty_columns(),
                lines=np.empty(0, np.int64),
                refused=skipped[reported:],
                done=total,
                total=total,
            )


def _empty_columns() -> dict[str, pa.Array]:
    import pyarrow as pa  # heavy: loaded when a file is read

    return {name: pa.array([], pa.string()) for name in COLUMNS}


def _json_text(value: Any) -> str | None:
    """A JSON value as the text the checks read; None for one that is no number or text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return repr(value)


def _jsonl_batches(path: Path) -> Iterator[RawBatch]:
    import numpy as np  # heavy (numpy, pyarrow): loaded when a file is read, not with the actors
    import pyarrow as pa

    total = path.stat().st_size
    done = 0
    values: dict[str, list[str]] = {name: [] for name in COLUMNS}
    lines: list[int] = []
    refused: list[Reject] = []

    def flush() -> RawBatch:
        batch = RawBatch(
            columns={name: pa.array(values[name], pa.string()) for name in COLUMNS},
            lines=np.array(lines, dtype=np.int64),
            refused=list(refused),
            done=done,
            total=total,
        )
        for column in values.values():
            column.clear()
        lines.clear()
        refused.clear()
        return batch

    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            done += len(raw)
            if not raw.strip():
                continue
            reason = None
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError as error:
                record, reason = None, f"not JSON: {error}"
            if reason is None and not isinstance(record, dict):
                reason = f"expected a JSON object, got {type(record).__name__}"
            if reason is None:
                missing = [name for name in COLUMNS if name not in record]
                unexpected = [name for name in record if name not in COLUMNS]
                if missing or unexpected:
                    reason = "; ".join(
                        f"{label}: {', '.join(names)}"
                        for label, names in (("missing fields", missing), ("unexpected fields", unexpected))
                        if names
                    )
            if reason is None:
                texts = {name: _json_text(record[name]) for name in COLUMNS}
                wrong = [name for name, text in texts.items() if text is None]
                if wrong:
                    reason = "; ".join(f"{name}: expected a number or text, got {record[name]!r}" for name in wrong)
            if reason is not None:
                refused.append(Reject(number, reason, raw=raw.decode("utf-8", "replace").rstrip("\r\n")))
            else:
                for name in COLUMNS:
                    values[name].append(texts[name])  # type: ignore[arg-type]
                lines.append(number)
            if len(lines) + len(refused) >= BATCH_ROWS:
                yield flush()
    done = total
    yield flush()


def _parquet_batches(path: Path) -> Iterator[RawBatch]:
    import numpy as np  # heavy (numpy, pyarrow): loaded when a file is read, not with the actors
    import pyarrow as pa
    import pyarrow.parquet as pa_parquet

    try:
        parquet = pa_parquet.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise RefusedFile(path, f"not a Parquet file ({error})") from None
    _check_columns(path, list(parquet.schema_arrow.names), "the schema")
    total = parquet.metadata.num_rows
    done = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(COLUMNS)):
        columns = {}
        for name in COLUMNS:
            column = batch.column(name)
            if pa.types.is_timestamp(column.type) and column.type.tz is None:
                raise RefusedFile(
                    path, "ts: Parquet timestamps must carry a time zone (timestamp with tz, for example UTC)"
                )
            try:
                columns[name] = column.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise RefusedFile(path, f"{name}: Parquet type {column.type} is not a number, time or text") from None
        yield RawBatch(
            columns=columns,
            lines=np.arange(done + 1, done + batch.num_rows + 1, dtype=np.int64),
            done=done + batch.num_rows,
            total=total,
        )
        done += batch.num_rows
