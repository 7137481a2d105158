"""Load event files into `ad_events`: `ingest_events(path=...)`, a file in INGEST_DIR.

Files arrive two ways: the ad servers drop them into INGEST_DIR, where the `ingest-scan`
schedule finds them every minute and sends one job per file; or a service sends a path. A
path outside INGEST_DIR (after resolving `..` and links) is refused, at `send()` and again in
the worker: a job reads only what was dropped for it. A relative path is taken inside
INGEST_DIR. After the job, a file dropped at the top of INGEST_DIR moves to `loaded/` (or to
`refused/`), with its rejects file, so the next scan does not see it again. Loading is keyed
by the file's checksum anyway: a second job for the same bytes adds nothing. A load that added
rows asks for the late-events run at once (deduplicated), so rollups of days already aggregated
converge right after the file, not only at the next `late-events` tick.

Writers should write a file under another name (a leading `.` or a `.part` ending) and rename
it when complete: the scan skips those names.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from actors._base import job_actor
from actors.late_events import request_reaggregation
from actors.progress import report_progress
from core.payloads import JobPayload, PermanentJobError
from db.event_files import FORMATS, RefusedFile
from db.ingest import REJECTS_SUFFIX, load_file
from errors import InvalidInput
from settings import get_settings

#: Subfolders of INGEST_DIR that files move to after their job.
LOADED_DIR = "loaded"
REFUSED_DIR = "refused"
#: Files one scan sends at most (the oldest first); the next scan sends the rest.
SCAN_LIMIT = 1000


class OutsideIngestDir(InvalidInput):
    """Raised when a path to ingest is not inside INGEST_DIR."""


def ingest_root() -> Path:
    return get_settings().ingest_dir.resolve()


def resolve_in_ingest_dir(path: str) -> Path:
    """`path` (absolute, or relative to INGEST_DIR) resolved; OutsideIngestDir unless it is inside."""
    root = ingest_root()
    candidate = Path(path)
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise OutsideIngestDir(f"path {path!r} is outside INGEST_DIR ({root}); only files dropped there are loaded")
    return resolved


class IngestRequest(JobPayload):
    #: A file in INGEST_DIR: its name there, or an absolute path inside it.
    path: str = Field(min_length=1, max_length=4096)
    #: Load the good rows of a file with bad ones, writing the bad ones to a rejects file.
    skip_bad: bool = False

    @field_validator("path")
    @classmethod
    def _inside_ingest_dir(cls, value: str) -> str:
        resolve_in_ingest_dir(value)
        return value


def pending_files() -> list[Path]:
    """Event files waiting at the top of INGEST_DIR, the oldest first (at most SCAN_LIMIT)."""
    root = ingest_root()
    if not root.is_dir():
        return []
    found = [
        entry
        for entry in root.iterdir()
        if entry.is_file()
        and not entry.name.startswith(".")
        and entry.suffix.lower() in FORMATS
        and not entry.name.endswith(REJECTS_SUFFIX)
    ]
    found.sort(key=lambda entry: (entry.stat().st_mtime, entry.name))
    return found[:SCAN_LIMIT]


def send_pending() -> list[str]:
    """One `ingest_events` job per pending file (deduplicated by file name while one is queued)."""
    return [
        ingest_events.send_with_options(kwargs={"path": entry.name}, job_id=f"ingest:{entry.name}").message_id
        for entry in pending_files()
    ]


def _file_away(path: Path, folder: str, rejects: str | None = None) -> Path | None:
    """Move a file dropped at the top of INGEST_DIR (and its rejects file) into `folder`."""
    root = ingest_root()
    if path.parent != root or not path.exists():
        return None
    target_dir = root / folder
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    if target.exists():  # the same name loaded before (other bytes): keep both
        target = target_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{path.name}"
    path.replace(target)
    if rejects and Path(rejects).exists():
        Path(rejects).replace(target.with_name(target.name + REJECTS_SUFFIX))
    return target


class _Progress:
    """The load's progress as the job's, at most twice a second."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last >= 0.5:
            self.last = now
            report_progress(min(99, 100 * done / max(total, 1)))


@job_actor(queue="event-ingestion", payload=IngestRequest)
def ingest_events(request: IngestRequest) -> dict[str, Any]:
    try:
        path = resolve_in_ingest_dir(request.path)
    except OutsideIngestDir as error:
        raise PermanentJobError(f"ingest_events: {error}") from None
    if not path.is_file():
        if path.parent == ingest_root() and (ingest_root() / LOADED_DIR / path.name).is_file():
            return {"status": "already loaded", "file": path.name}  # a second job for a file moved meanwhile
        raise PermanentJobError(f"ingest_events: no such file {request.path!r} in INGEST_DIR ({ingest_root()})")
    try:
        result = load_file(path, skip_bad=request.skip_bad, progress=_Progress(), loaded_by="ingest_events")
    except RefusedFile as error:
        _file_away(path, REFUSED_DIR)
        shown = "; ".join(f"line {reject.line}: {reject.reason}" for reject in error.rejects[1:])
        raise PermanentJobError(f"ingest_events: refused {error}" + (f"; {shown}" if shown else "")) from None
    if result.status == "loaded" and result.rows:
        request_reaggregation()  # late rows for days already rolled up converge now, not at the next tick
    moved = _file_away(path, LOADED_DIR, result.rejects_path)
    summary = result.as_dict()
    summary["new_publishers"] = len(result.new_publishers)
    summary["moved_to"] = str(moved) if moved else None
    return summary
