"""Structured logs: every line a job writes carries its job id, queue and actor.

`middleware/log_context.py` binds the running job to a context variable; `JobContextFilter`,
put on the root logger's handlers by `configure_logging()`, copies it onto each record, so
lines from any library inside the job carry it too. LOG_FORMAT=json writes one JSON object a
line; text keeps Dramatiq's format with ` [job=... queue=... actor=...]` appended in a job.
Both formats scrub every line (`core.scrub`): secret keys' values, URL credentials,
and the settings' secrets by value.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from core.scrub import FILTERED, is_secret_key, scrub, scrub_text
from settings import Settings, get_settings

#: Dramatiq's own line format, kept for text logs.
TEXT_FORMAT = "[%(asctime)s] [PID %(process)d] [%(threadName)s] [%(name)s] [%(levelname)s] %(message)s"
#: The job fields every record gets (None outside a job).
JOB_FIELDS = ("job_id", "queue", "actor")

_job: ContextVar[dict[str, str] | None] = ContextVar("adjobs_job", default=None)

# Attributes every LogRecord has; anything else was passed in `extra=` and goes into JSON lines.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", *JOB_FIELDS}


def bind_job(job_id: str, queue: str, actor: str) -> None:
    _job.set({"job_id": job_id, "queue": queue, "actor": actor})


def unbind_job() -> None:
    _job.set(None)


def current_job() -> dict[str, str] | None:
    return _job.get()


class JobContextFilter(logging.Filter):
    """Adds `job_id`, `queue` and `actor` to every record (None outside a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = _job.get()
        for name in JOB_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, job[name] if job else None)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, process, thread, job fields, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub_text(record.getMessage()),
            "process": record.process,
            "thread": record.threadName,
        }
        for name in JOB_FIELDS:
            line[name] = getattr(record, name, None)
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = FILTERED if is_secret_key(name) else scrub(_json_ready(value))
        if record.exc_info:
            line["exc_info"] = scrub_text(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack_info"] = scrub_text(record.stack_info)
        return json.dumps(line, default=str)


def _json_ready(value: Any) -> Any:
    """Containers and scalars as they are (scrubbed item by item), anything else as its scrubbed text."""
    if value is None or isinstance(value, bool | int | float | str | dict | list | tuple):
        return value
    return str(value)


class TextFormatter(logging.Formatter):
    """Dramatiq's text format, with the job appended on lines written inside one."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = scrub_text(super().format(record))
        if getattr(record, "job_id", None):
            suffix = f" [job={record.job_id} queue={record.queue} actor={record.actor}]"  # type: ignore[attr-defined]
            first, newline, rest = text.partition("\n")
            text = first + suffix + newline + rest
        return text


def formatter_for(settings: Settings) -> logging.Formatter:
    return JsonFormatter() if settings.log_format == "json" else TextFormatter()


def configure_logging(settings: Settings | None = None, level: int | None = None) -> None:
    """Give the root logger's handlers the job filter and the LOG_FORMAT formatter (idempotent).

    Dramatiq's worker processes already have a handler writing to their log pipe; other
    processes (the API, the CLI) get a stderr handler when they have none.
    """
    settings = settings or get_settings()
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level or logging.INFO)
    elif level is not None:
        root.setLevel(level)
    formatter = formatter_for(settings)
    for handler in root.handlers:
        if not any(isinstance(existing, JobContextFilter) for existing in handler.filters):
            handler.addFilter(JobContextFilter())
        handler.setFormatter(formatter)
