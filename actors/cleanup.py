"""Cleanup: old log files, expired API tokens, old export files, old job-store records, old events.

The `cleanup` queue runs one job at a time over the whole cluster (its concurrency is 1, held
by `QueueLimits`). `dry_run` counts what would go and removes nothing. The result says what was
removed: how many, how many bytes, and the first names or ids.

`old_events` keeps `ad_events` to EVENTS_RETENTION_DAYS (or `older_than`) in whole UTC days: it
drops the day partitions before the cutoff day, a `DROP TABLE` each, and deletes the older rows
of the default partition (on SQLite, the older rows). Before that (not in a dry run) it makes
the day partitions of today and the next PARTITIONS_AHEAD days, so loads land in partitions.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from actors._base import job_actor
from core.payloads import JobPayload
from db import partitions, retention
from db.engine import get_engine
from db.models import Export
from settings import get_settings

CleanupType = Literal["old_logs", "expired_tokens", "temp_files", "job_records", "old_events"]
#: Ages used when `older_than` is not given.
DEFAULT_AGE = {"old_logs": timedelta(days=30), "temp_files": timedelta(days=7)}
#: A `.part` file (an export or report being written) this old belongs to a writer that died.
STALE_PART = timedelta(hours=1)
#: `old_events` makes the day partitions of today and this many days after.
PARTITIONS_AHEAD = 7
SAMPLE = 20
_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_LOG_NAME = re.compile(r"\.log(\.\d+)?(\.gz)?$")


def parse_age(value: str) -> timedelta:
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"older_than {value!r} is not a duration like 30d, 24h, 90m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class CleanupRequest(JobPayload):
    #: What to remove (see the job types table).
    type: CleanupType
    #: Like `30d`, `24h`, `90m`; each type has its own default.
    older_than: str | None = Field(default=None, max_length=10)
    #: Count what would be removed, remove nothing.
    dry_run: bool = False

    @field_validator("older_than")
    @classmethod
    def _age(cls, value: str | None) -> str | None:
        if value is not None:
            parse_age(value)
        return value

    @property
    def age(self) -> timedelta | None:
        return parse_age(self.older_than) if self.older_than else None


def _old_files(directory: Path, before: float, matches: Iterable[str] | None = None) -> list[Path]:
    if not directory.is_dir():
        return []
    found = []
    for path in directory.rglob("*"):
        wanted = matches is None or any(path.name.endswith(suffix) for suffix in matches)
        if wanted and path.is_file() and not path.is_symlink() and path.stat().st_mtime < before:
            found.append(path)
    return sorted(found)


def _remove(paths: list[Path], dry_run: bool) -> tuple[int, int]:
    removed = size = 0
    for path in paths:
        try:
            size += path.stat().st_size
            if not dry_run:
                path.unlink()
            removed += 1
        except FileNotFoundError:  # removed meanwhile by someone else
            continue
    return removed, size


def _report(kind: str, dry_run: bool, removed: int, size: int, names: list[str]) -> dict[str, Any]:
    return {"type": kind, "dry_run": dry_run, "removed": removed, "bytes": size, "sample": names[:SAMPLE]}


def clean_old_logs(request: CleanupRequest, now: datetime) -> dict[str, Any]:
    before = (now - (request.age or DEFAULT_AGE["old_logs"])).timestamp()
    directory = get_settings().log_dir.resolve()
    paths = [path for path in _old_files(directory, before) if _LOG_NAME.search(path.name)]
    removed, size = _remove(paths, request.dry_run)
    return _report("old_logs", request.dry_run, removed, size, [str(p.relative_to(directory)) for p in paths])


def clean_temp_files(request: CleanupRequest, now: datetime) -> dict[str, Any]:
    """Export files older than the age (their exports stay, without a file), and stale `.part` files."""
    settings = get_settings()
    before = (now - (request.age or DEFAULT_AGE["temp_files"])).timestamp()
    export_dir = settings.export_dir.resolve()
    exports = [p for p in _old_files(export_dir, before, (".csv", ".json", ".jsonl")) if p.parent == export_dir]
    parts = [
        path
        for directory in (export_dir, settings.report_dir.resolve())
        for path in _old_files(directory, (now - STALE_PART).timestamp(), (".part",))
    ]
    paths = exports + parts
    removed, size = _remove(paths, request.dry_run)
    if exports and not request.dry_run:
        table = Export.__table__
        with get_engine().begin() as connection:
            connection.execute(
                table.update()
                .where(table.c.file_path.in_([str(path) for path in exports]))
                .values(file_path=None, error="file removed by cleanup (temp_files)")
            )
    return _report("temp_files", request.dry_run, removed, size, [path.name for path in paths])


def clean_expired_tokens(request: CleanupRequest, now: datetime) -> dict[str, Any]:
    with get_engine().begin() as connection:
        ids = retention.expired_tokens(connection, now, request.age)
        removed = len(ids) if request.dry_run else retention.delete_tokens(connection, ids)
    return _report("expired_tokens", request.dry_run, removed, 0, ids)


def clean_job_records(request: CleanupRequest, now: datetime) -> dict[str, Any]:
    with get_engine().begin() as connection:
        ids = retention.expired_job_records(connection, now, request.age)
        removed = len(ids) if request.dry_run else retention.delete_job_records(connection, ids)
    return _report("job_records", request.dry_run, removed, 0, ids)


def clean_old_events(request: CleanupRequest, now: datetime) -> dict[str, Any]:
    """Drop the event partitions (and default-partition rows) of the days before the retention cutoff."""
    age = request.age or timedelta(days=get_settings().events_retention_days)
    before = (now - age).astimezone(UTC).date()
    today = now.astimezone(UTC).date()
    made: list[str] = []
    if not request.dry_run:
        with get_engine().begin() as connection:
            made = partitions.create_partitions(connection, today, today + timedelta(days=PARTITIONS_AHEAD))
    with get_engine().begin() as connection:
        sizes = partitions.partitions_before(connection, before)
        rows = partitions.count_events_before(connection, before)
        names = list(sizes)
        if not request.dry_run:
            names = partitions.drop_partitions_before(connection, before)
            partitions.delete_events_before(connection, before)
    size = sum(sizes.get(name, 0) for name in names)
    result = _report("old_events", request.dry_run, len(names), size, names)
    result.update(rows=rows, before=before.isoformat(), partitions_made=made)
    return result


CLEANERS = {
    "old_logs": clean_old_logs,
    "temp_files": clean_temp_files,
    "expired_tokens": clean_expired_tokens,
    "job_records": clean_job_records,
    "old_events": clean_old_events,
}


@job_actor(queue="cleanup", payload=CleanupRequest)
def cleanup(request: CleanupRequest) -> dict[str, Any]:
    started = time.monotonic()
    result = CLEANERS[request.type](request, datetime.now(UTC))
    result["seconds"] = round(time.monotonic() - started, 3)
    return result
