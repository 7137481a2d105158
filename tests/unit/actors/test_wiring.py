"""The broker's wiring apart from actor registration: `get_broker()`, the worker app, the embedded switch.

The import-time behaviour is checked in fresh interpreters (a subprocess each), since this
process has imported everything already; none of them reaches a server: the broker URL is a
closed port (127.0.0.1:1), refused at once, and the settings come from the environment given
(run in an empty folder, so no `.env` is read).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.aggregation import aggregate_analytics
from actors.cleanup import cleanup
from wiring.broker import get_broker, reset_broker

#: Settings that would make the process reach a server, removed from the subprocesses' environment.
SERVER_SETTINGS = ("REDIS_URL", "BROKER_URL", "DATABASE_URL", "SENTRY_DSN", "EMBEDDED")
#: A Redis nobody listens on: a connection attempt is refused at once.
CLOSED_REDIS = "redis://127.0.0.1:1/0"


def run_python(code: str, folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter in `folder`, with the project's settings cleared and `env` set."""
    base = {name: value for name, value in os.environ.items() if name not in SERVER_SETTINGS}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=folder,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


#: Imports one actor as a service would, recording every socket connection the process attempts.
SERVICE = """
import json, socket, sys
attempts = []
connect = socket.socket.connect
def recording(self, address):
    attempts.append(str(address))
    return connect(self, address)
socket.socket.connect = recording

from actors.aggregation import aggregate_analytics

import sentry_sdk
print(json.dumps({
    "modules": sorted(name for name in sys.modules if name.split(".")[0] in ("actors", "pipelines", "schedules")),
    "sentry_active": sentry_sdk.get_client().is_active(),
    "broker": type(aggregate_analytics.broker).__name__,
    "actors": sorted(aggregate_analytics.broker.actors),
    "connections": attempts,
}))
"""


def test_a_service_importing_one_actor_loads_only_that_actor_and_neither_starts_sentry_nor_connects(tmp_path):
    # Given a process with a broker URL and a Sentry DSN configured (nobody listening on either)
    # When it imports one actor, as a service that sends `aggregate_analytics` does
    result = run_python(SERVICE, tmp_path, REDIS_URL=CLOSED_REDIS, SENTRY_DSN="https://key@127.0.0.1:1/1")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    # Then no other job module, no catalog, no pipeline and no schedule table is imported
    assert "actors.catalog" not in seen["modules"]
    assert "actors.exports" not in seen["modules"]
    assert not [name for name in seen["modules"] if name.startswith(("pipelines", "schedules"))]
    # And the actor sits on the Redis broker made from settings, alone, with Sentry off and no connection made
    assert seen["broker"] == "PriorityRedisBroker"
    assert seen["actors"] == ["aggregate_analytics"]
    assert seen["sentry_active"] is False
    assert seen["connections"] == []


def test_get_broker_makes_the_broker_once_and_every_actor_is_declared_on_it():
    # Given actors imported in this process
    # When the broker is asked for twice
    first, second = get_broker(), get_broker()
    # Then it is the same broker, and the actors' own
    assert first is second
    assert aggregate_analytics.broker is first
    assert first.get_actor("cleanup") is cleanup


def test_after_reset_the_next_broker_is_new_and_carries_the_actors_of_the_closed_one():
    # Given the process's broker with actors declared on it
    old = get_broker()
    try:
        # When it is reset and the broker asked for again
        reset_broker()
        new = get_broker()
        # Then a new broker is made, and the actors declared before are declared on it and point at it
        assert new is not old
        assert new.get_actor("aggregate_analytics") is aggregate_analytics
        assert aggregate_analytics.broker is new
        assert set(old.actors) <= set(new.actors)
    finally:
        get_broker()


#: A CLI run that imports an actor first (the broker is made for the configured servers), then loads the actors.
EMBEDDED_SWITCH = """
import json
from actors.aggregation import aggregate_analytics
before = type(aggregate_analytics.broker).__name__
from jobsctl.runtime import load_actors
load_actors()
from wiring.broker import get_broker
print(json.dumps({
    "before": before,
    "after": type(get_broker()).__name__,
    "actor_on_it": aggregate_analytics.broker is get_broker(),
    "actors": len(get_broker().actors),
}))
"""


def test_the_embedded_default_applies_even_when_an_actor_was_imported_before_it_was_chosen(tmp_path):
    # Given nothing configured, and an actor imported before `jobsctl` chooses the embedded default
    result = run_python(EMBEDDED_SWITCH, tmp_path, EMBEDDED_DATABASE_PATH=str(tmp_path / "demo.sqlite3"))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    # Then the broker made first (Redis, never connected) is replaced by the in-process one, which holds every actor
    assert seen["before"] == "PriorityRedisBroker"
    assert seen["after"] == "MemoryBroker"
    assert seen["actor_on_it"] is True
    assert seen["actors"] >= 10


#: The worker app as `dramatiq actors` imports it (`running_as_service()` reads the program's name).
WORKER_APP = "import sys; sys.argv[0] = '/usr/local/bin/dramatiq'; import actors; print(len(actors.broker.actors))"


def test_the_worker_app_exits_3_with_one_line_when_the_broker_does_not_answer(tmp_path):
    # Given a worker whose broker URL points where nobody listens
    result = run_python(WORKER_APP, tmp_path, REDIS_URL=CLOSED_REDIS)
    # Then it exits 3 with one line naming the broker
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 3, result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach the broker at {CLOSED_REDIS}"), lines


def test_the_worker_app_exits_2_with_one_line_naming_a_malformed_setting(tmp_path):
    # Given a worker with a malformed setting
    result = run_python(WORKER_APP, tmp_path, REDIS_URL=CLOSED_REDIS, QUEUE_MAX_ATTEMPTS="three")
    # Then it exits 2 with one line naming the variable, before reaching for the broker
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "QUEUE_MAX_ATTEMPTS" in lines[0], lines


@pytest.mark.parametrize("program", ["/usr/bin/python3", "/srv/app/jobsctl"])
def test_the_worker_app_module_does_nothing_outside_a_worker_or_beat(tmp_path, program):
    # Given a process that is neither `dramatiq` nor `periodiq`, with an unreachable broker
    code = (
        f"import sys; sys.argv[0] = {program!r}; import actors; "
        "print(sorted(m for m in sys.modules if m.startswith('actors')))"
    )
    result = run_python(code, tmp_path, REDIS_URL=CLOSED_REDIS)
    # Then importing the package neither exits nor declares any actor
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['actors']"


#: What a worker knows after importing the catalog alone.
CATALOG = """
import json
import actors.catalog
from pipelines.steps import stages_of
from scheduling.registry import all_schedules
from wiring.broker import get_broker
print(json.dumps({
    "actors": sorted(get_broker().actors),
    "pipelines": {name: [stage for stage, _ in stages_of(name)] for name in ("daily", "backfill")},
    "schedules": sorted(schedule.name for schedule in all_schedules()),
}))
"""


def test_the_catalog_declares_every_actor_every_pipeline_the_step_actor_advances_and_the_schedule_table(tmp_path):
    # Given a fresh process on the embedded default
    # When it imports `actors.catalog` and nothing else, as the worker app does
    result = run_python(CATALOG, tmp_path, EMBEDDED="true", EMBEDDED_DATABASE_PATH=str(tmp_path / "w.sqlite3"))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    # Then every job type, the pipelines' step actor and the dispatcher are declared
    assert {"aggregate_analytics", "export_data", "advance_pipeline", "dispatch_schedules", "monitor"} <= set(
        seen["actors"]
    )
    # And `advance_pipeline` can find the stages of both pipelines, and the beat the contract's schedules
    assert seen["pipelines"] == {
        "daily": ["aggregation", "metrics", "cache-warming"],
        "backfill": ["hours-and-days", "weeks-and-months"],
    }
    assert {"daily-aggregation", "daily-cleanup", "hourly-metrics", "cache-warming", "weekly-reports"} <= set(
        seen["schedules"]
    )
