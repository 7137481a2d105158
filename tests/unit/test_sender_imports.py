"""A process that imports an actor module to send loads none of what only workers and the store's writers use.

The database libraries (SQLAlchemy, psycopg, the models, the store's SQL), periodiq and the worker's start
(`wiring.service`) stay out of `sys.modules` until something runs a statement, a tick or a worker: a
service pays for sending only (its start is a row of `make bench`, `bench/import_time.py`). Checked in a
fresh interpreter on the embedded default, with no server needed; `tests/middleware/test_store_events.py`
checks the same of a process that sends on Redis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: What a sending process must not load.
WORKER_ONLY = (
    "sqlalchemy",
    "psycopg",
    "db.models",
    "db.jobstore",
    "runtime.store_buffer",
    "wiring.service",
    "periodiq",
    "pendulum",
)
SERVER_SETTINGS = ("REDIS_URL", "BROKER_URL", "DATABASE_URL", "SENTRY_DSN")


def loaded_after(code: str, folder: str) -> list[str]:
    env = {name: value for name, value in os.environ.items() if name not in SERVER_SETTINGS}
    probe = f"{code}\nimport json, sys\nprint(json.dumps([n for n in {WORKER_ONLY!r} if n in sys.modules]))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        env={**env, "EMBEDDED": "true", "TMPDIR": folder},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


#: Actor modules whose import is free of the database libraries (the others' SQL modules still load the models).
SENDER_MODULES = ["actors.aggregation", "actors.progress"]


@pytest.mark.parametrize("module", SENDER_MODULES)
def test_importing_an_actor_module_to_send_loads_no_database_library_nor_the_workers_start(module, tmp_path):
    # Given a fresh interpreter, When it imports one actor module as a service that sends does
    loaded = loaded_after(f"import {module}", str(tmp_path))
    # Then nothing only a worker or the store's writer uses is loaded
    assert loaded == []


def test_the_store_writer_loads_the_database_libraries_where_it_is_used(tmp_path):
    # Given a fresh interpreter, When it imports the store's writer
    loaded = loaded_after("import runtime.store_buffer", str(tmp_path))
    # Then SQLAlchemy and the store's SQL are loaded (so the probe above would see them)
    assert {"sqlalchemy", "db.jobstore", "runtime.store_buffer"} <= set(loaded)
