"""What a `jobs` row can hold: every job-store record is checked against its columns when it is made.

One record the database refuses used to fail its whole batch, and every batch after it, so
the process's job store stood still. `check_record()` runs in `StoreBuffer.record()` and
either returns a record every column takes or raises `RecordRejected` naming the field:

- Corrected, where the correction falsifies nothing that identifies the job: characters
  PostgreSQL text and jsonb cannot hold (NUL, lone surrogates) become U+FFFD; values JSON
  has no form for (an object in a result, an integer over 64 bits) are stored as text; a priority
  that is not an integer becomes the lane the broker runs it in (`lane_for`); counts out of a
  32-bit column's range are clamped; an over-long worker name is cut; a time that is not a
  time, or a duration that is not a finite number, is left empty.
- Rejected, where the value names or orders the job, so a changed one would mislead: an id,
  queue, actor, dedupe key, link (`retry_of`, `pipeline_id`) or broker reference that is not
  text, holds such a character or is longer than its column; a state that is not a job state;
  a `seq` that is not a 32-bit integer.

Reasons name the field and the problem, never the value (a payload may hold secrets).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard

import orjson
from sqlalchemy import String

from core.lanes import lane_of
from db.models import JobRecord
from errors import InvalidInput

#: The range of PostgreSQL's `integer`.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
#: Priorities of CONTRACT.md: 1 (CRITICAL) ... 10 (BACKGROUND); NORMAL when none can be read.
PRIORITY_MIN, PRIORITY_MAX, NORMAL = 1, 10, 5
#: Job states of CONTRACT.md (as in `db.jobstore.STATES`).
STATES = frozenset(("waiting", "delayed", "active", "completed", "failed", "dead", "cancelled"))
#: The longest text each `jobs` column takes, read from the model.
LIMITS: dict[str, int] = {
    column.name: column.type.length
    for column in JobRecord.__table__.columns
    if isinstance(column.type, String) and column.type.length
}
#: Columns that name or link the job: a value they cannot hold rejects the record.
IDENTITY = ("id", "queue", "actor")
LINKS = ("dedupe_key", "retry_of", "pipeline_id", "broker_ref")
#: Free text: NUL characters replaced, over-long values cut.
TEXT = ("error", "traceback", "worker")
#: Integer columns and the value a record without a readable one gets.
COUNTS = {"attempts": 0, "max_attempts": 1, "progress": 0}
TIMES = ("enqueued_at", "run_at", "started_at", "finished_at")
JSON_COLUMNS = ("payload", "result")
#: Characters PostgreSQL text cannot hold (NUL, and lone surrogates, which are not UTF-8), and what stands for them.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


class RecordRejected(InvalidInput):
    """Raised when a job-store record holds a value its `jobs` column cannot take and no correction is honest."""

    def __init__(self, record: dict[str, Any], field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.record = record
        self.field = field_name
        self.problem = problem


@dataclass
class Checked:
    """A record every column takes, and what was corrected to make it so (one phrase per field)."""

    record: dict[str, Any]
    corrections: list[str] = field(default_factory=list)


def check_record(record: dict[str, Any]) -> Checked:
    """The record as the database will take it; raises RecordRejected when that cannot be done honestly."""
    for name in (*IDENTITY, *LINKS):
        value = record.get(name)
        if value is None and name in LINKS:
            continue
        problem = _text_problem(value, LIMITS[name])
        if problem:
            raise RecordRejected(record, name, problem)
    if record.get("state") not in STATES:
        raise RecordRejected(record, "state", "not one of the job states")
    seq = record.get("seq")
    if not _is_int(seq) or not INT_MIN <= seq <= INT_MAX:
        raise RecordRejected(record, "seq", "not a 32-bit integer")
    checked = Checked(record)
    _check_priority(checked)
    for name, default in COUNTS.items():
        _check_count(checked, name, default)
    for name in TEXT:
        _check_text(checked, name)
    for name in TIMES:
        value = record.get(name)
        if value is not None and not isinstance(value, datetime):
            _correct(checked, name, None, "not a time (left empty)")
    duration = record.get("duration_ms")
    if duration is not None and (not isinstance(duration, int | float) or not math.isfinite(duration)):
        _correct(checked, "duration_ms", None, "not a finite number (left empty)")
    for name in JSON_COLUMNS:
        _check_json(checked, name)
    return checked


def lane_for(priority: Any) -> int:
    """The lane a message with this priority runs in: the broker's own rule (rounded half up, clamped)."""
    return lane_of(priority)


def storable(value: Any) -> Any:
    """`value` with every UNSTORABLE character in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


def json_bytes(value: Any) -> bytes:
    """How the writer encodes `payload` and `result` (NaN and Infinity become null, as jsonb needs)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


# Checks ---------------------------------------------------------------------------------


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _text_problem(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return f"not text ({type(value).__name__})"
    if not value:
        return "empty"
    if len(value) > limit:
        return f"{len(value)} characters, over the column's {limit}"
    if UNSTORABLE.search(value):
        return "holds a character text cannot hold (NUL or a lone surrogate)"
    return None


def _correct(checked: Checked, name: str, value: Any, why: str) -> None:
    if not checked.corrections:
        checked.record = dict(checked.record)  # the caller's dict stays as it was
    checked.record[name] = value
    checked.corrections.append(f"{name} {why}")


def _check_priority(checked: Checked) -> None:
    value = checked.record.get("priority")
    if value is None:
        _correct(checked, "priority", NORMAL, f"missing (stored as {NORMAL})")
    elif not _is_int(value) or not INT_MIN <= value <= INT_MAX:
        lane = lane_for(value) if not isinstance(value, bool) else NORMAL
        _correct(checked, "priority", lane, f"not a 32-bit integer (stored as {lane}, the lane it runs in)")


def _check_count(checked: Checked, name: str, default: int) -> None:
    value = checked.record.get(name)
    if value is None:
        if name in checked.record:
            _correct(checked, name, default, f"missing (stored as {default})")
        return
    if not _is_int(value):
        _correct(checked, name, default, f"not an integer (stored as {default})")
    elif not INT_MIN <= value <= INT_MAX:
        clamped = min(max(value, INT_MIN), INT_MAX)
        _correct(checked, name, clamped, "out of the 32-bit range (clamped)")


def _check_text(checked: Checked, name: str) -> None:
    value = checked.record.get(name)
    if value is None:
        return
    if not isinstance(value, str):
        value = str(value)
        _correct(checked, name, value, "not text (stored as its text)")
    if UNSTORABLE.search(value):
        _correct(
            checked, name, UNSTORABLE.sub(REPLACEMENT, value), "held NUL or surrogate characters (stored as U+FFFD)"
        )
    limit = LIMITS.get(name)
    if limit and len(checked.record[name]) > limit:
        _correct(checked, name, checked.record[name][:limit], f"over {limit} characters (cut)")


def _check_json(checked: Checked, name: str) -> None:
    value = checked.record.get(name)
    if value is None:
        if name == "payload":
            _correct(checked, name, {}, "missing (stored as {})")
        return
    try:
        if b"\\u0000" not in json_bytes(value):
            return
    except TypeError:  # orjson's JSONEncodeError too: a lone surrogate, an object, an integer over 64 bits
        pass
    fixed = storable(value)
    try:
        json_bytes(fixed)
        if fixed == value:  # a backslash and "u0000" as text, not a NUL character
            return
        _correct(checked, name, fixed, "held NUL or surrogate characters (stored as U+FFFD)")
    except TypeError:
        _correct(checked, name, _as_plain_json(fixed), "held values JSON has no form for (stored as text)")


def _as_plain_json(value: Any) -> Any:
    """`value` with what JSON has no form for as text: objects, integers over 64 bits."""
    try:
        return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        text = json.dumps(value, default=str)
        return json.loads(text, parse_int=lambda digits: int(digits) if len(digits) < 19 else digits)
