"""Set-up mistakes, each met as a new operator meets it: one line saying what to do, the right exit code.

A database nobody migrated, or migrated by an older release; a DATABASE_URL naming no database;
Redis down under `jobsctl send`; a misspelled per-queue setting; a placeholder secret from
docker/.env.example. Each entry point runs as a real subprocess: `jobsctl`, `jobsctl api`, the
`dramatiq actors` worker and the `periodiq actors schedules` beat.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url, text

from db.migrate import MIGRATIONS, upgrade
from tests.support import servers
from tests.support.processes import BIN, ROOT, dramatiq_command

ENV_EXAMPLE = ROOT / "docker" / ".env.example"
HINT = "run 'jobsctl migrate'"
#: An aggregation for one day: a valid job to send.
AGGREGATION = '{"startDate": "2026-11-21", "endDate": "2026-11-21", "granularity": "day"}'
#: Where nothing listens: a connection is refused at once.
CLOSED_REDIS = "redis://127.0.0.1:1/0"


def run(command: list[str], env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def jobsctl(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "jobsctl"), *args], env)


def worker(**env: str) -> subprocess.CompletedProcess[str]:
    return run(dramatiq_command(processes=1, threads=1), env)


def beat(**env: str) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "periodiq"), "actors", "schedules"], env)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refusal prints on stderr (failing the test when there is more, or a traceback)."""
    found = lines(result.stderr)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert len(found) == 1 and found[0].startswith("error: "), result.stderr[-3000:]
    return found[0]


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The `error:` lines of a worker or beat (their own log lines may come before), with no traceback."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return [line for line in lines(result.stderr) if line.startswith("error: ")]


def previous_revision() -> tuple[str, str]:
    """(the code's head, the revision before it) of db/migrations."""
    scripts = ScriptDirectory(str(MIGRATIONS))
    head = scripts.get_current_head()
    assert head is not None
    before = scripts.get_revision(head).down_revision  # type: ignore[union-attr]
    assert isinstance(before, str)
    return head, before


def revision_name(revision: str) -> str:
    return next(Path(MIGRATIONS, "versions").glob(f"{revision}_*.py")).stem


@pytest.fixture
def empty_database() -> Iterator[str]:
    """The URL of a database of its own that nobody migrated."""
    admin = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    name, url = servers.create_database(admin + "/postgres")
    try:
        yield url
    finally:
        servers.drop_database(admin + "/postgres", name)


@pytest.fixture
def outdated_database(empty_database: str) -> str:
    """The URL of a database migrated by the release before this one (one revision behind the code)."""
    _head, before = previous_revision()
    engine = create_engine(empty_database)
    try:
        with engine.connect() as connection:
            upgrade(connection, before)
            connection.commit()
    finally:
        engine.dispose()
    return empty_database


# A database nobody migrated ---------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["stats"], ["jobs", "data-export"], ["seed", "--days", "1", "--rows-per-day", "10"]],
    ids=["stats", "jobs", "seed"],
)
def test_a_command_on_a_database_nobody_migrated_says_run_jobsctl_migrate_and_exits_4(empty_database, command):
    # Given a database without the schema
    # When a command that uses the database runs
    result = jobsctl(*command, DATABASE_URL=empty_database)
    # Then it is one line saying what to do, and exit 4 (the database is not usable), no traceback
    assert result.returncode == 4, result.stdout + result.stderr
    line = one_error_line(result)
    assert "has no schema yet" in line and line.endswith(HINT), line


def test_a_commands_help_needs_no_schema(empty_database):
    # Given a database without the schema
    # When a command's help is asked for
    result = jobsctl("stats", "--help", DATABASE_URL=empty_database)
    # Then it is shown
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Usage" in result.stdout


def test_send_on_a_database_nobody_migrated_sends_nothing_and_says_run_jobsctl_migrate(empty_database, redis_client):
    # Given a database without the schema
    # When a job is sent with `jobsctl send`
    result = jobsctl("send", "aggregate_analytics", "--data", AGGREGATION, DATABASE_URL=empty_database)
    # Then it prints no job id, one line saying what to do, exits 4, and nothing was enqueued
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stdout.strip() == ""
    assert one_error_line(result).endswith(HINT)
    assert not [key for key in redis_client.keys("dramatiq:*") if not key.endswith(b".msgs")]


def test_jobsctl_migrate_cures_it_and_the_command_then_works(empty_database):
    # Given a database without the schema, refused by `jobsctl stats`
    assert jobsctl("stats", DATABASE_URL=empty_database).returncode == 4
    # When `jobsctl migrate` runs, as the hint says
    migrated = jobsctl("migrate", DATABASE_URL=empty_database)
    # Then it succeeds, and the same command now works
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    after = jobsctl("stats", "--json", DATABASE_URL=empty_database)
    assert after.returncode == 0, after.stdout + after.stderr


def test_a_worker_on_a_database_nobody_migrated_exits_non_zero_with_one_line(empty_database):
    # Given a database without the schema
    # When a worker starts as production starts it
    result = worker(DATABASE_URL=empty_database)
    # Then it exits non-zero with one line saying to run `jobsctl migrate` (not 1,219 lines of SQL errors)
    assert result.returncode != 0
    errors = error_lines(result)
    assert errors and all(line.endswith(HINT) for line in errors), result.stderr[-3000:]
    # and nothing else but Dramatiq's own lines about its processes starting and stopping
    others = [line for line in lines(result.stderr) if not line.startswith("error: ") and "[dramatiq." not in line]
    assert others == [], result.stderr[-3000:]


def test_a_beat_on_a_database_nobody_migrated_exits_non_zero_with_one_line(empty_database):
    # Given a database without the schema
    # When a beat starts
    result = beat(DATABASE_URL=empty_database)
    # Then it exits non-zero with the one line
    assert result.returncode != 0
    assert [line for line in error_lines(result) if line.endswith(HINT)], result.stderr[-3000:]


def test_the_api_refuses_to_start_on_a_database_nobody_migrated(empty_database):
    # Given a database without the schema
    # When the API starts (`jobsctl api`)
    result = run([str(BIN / "jobsctl"), "api", "--port", str(servers.free_port())], {"DATABASE_URL": empty_database})
    # Then it does not serve: one line saying what to do, exit 4
    assert result.returncode == 4, result.stdout + result.stderr
    assert one_error_line(result).endswith(HINT)


# A database an older release migrated ------------------------------------------------------


def test_a_schema_older_than_the_code_is_refused_naming_both_revisions(outdated_database):
    # Given a database one revision behind the code
    head, before = previous_revision()
    # When a command, a worker and the API start on it
    command = jobsctl("stats", DATABASE_URL=outdated_database)
    started = worker(DATABASE_URL=outdated_database)
    api = run([str(BIN / "jobsctl"), "api", "--port", str(servers.free_port())], {"DATABASE_URL": outdated_database})
    # Then each refuses with the two revisions named and the hint
    assert command.returncode == 4 and api.returncode == 4 and started.returncode != 0
    for line in (one_error_line(command), one_error_line(api), *error_lines(started)[:1]):
        assert revision_name(before) in line and revision_name(head) in line, line
        assert line.endswith(HINT), line
    assert error_lines(started), started.stderr[-3000:]


def test_migrate_brings_an_older_schema_to_the_head(outdated_database):
    # Given a database one revision behind the code
    head, _before = previous_revision()
    # When `jobsctl migrate` runs
    result = jobsctl("migrate", DATABASE_URL=outdated_database)
    # Then the schema is at the head
    assert result.returncode == 0, result.stdout + result.stderr
    engine = create_engine(outdated_database)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    finally:
        engine.dispose()


# DATABASE_URL without a database name --------------------------------------------------------


@pytest.mark.parametrize("program", ["jobsctl", "worker"])
def test_a_database_url_without_a_database_name_is_a_setting_error_exit_2(program):
    # Given a DATABASE_URL that names a server but no database
    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    # When a command or a worker starts
    result = jobsctl("stats", DATABASE_URL=url) if program == "jobsctl" else worker(DATABASE_URL=url)
    # Then it is one line naming the variable and exit 2
    if program == "jobsctl":
        assert result.returncode == 2, result.stdout + result.stderr
        line = one_error_line(result)
    else:
        assert result.returncode != 0
        line = error_lines(result)[0]
    assert line.startswith("error: setting DATABASE_URL: names no database"), line


# Redis down under `jobsctl send` -------------------------------------------------------------


def test_send_with_redis_down_is_one_line_and_exit_4_without_the_brokers_connection_id_message():
    # Given a Redis where nothing listens (and a migrated database)
    # When a job is sent
    result = jobsctl("send", "aggregate_analytics", "--data", AGGREGATION, REDIS_URL=CLOSED_REDIS)
    # Then one line says Redis cannot be reached, exit 4; no traceback, no broker-internal chatter
    assert result.returncode == 4, result.stdout + result.stderr
    line = one_error_line(result)
    assert "cannot be reached" in line, line
    assert "connection id" not in result.stdout + result.stderr
    assert result.stdout.strip() == ""


# A misspelled per-queue setting --------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "named"),
    [
        ("QUEUES__DATA_EXPRT__CONCURRENCY", ["no queue 'data-exprt'", "did you mean data-export?", "cleanup"]),
        ("QUEUES__DATA_EXPORT__CONCURENCY", ["no figure CONCURENCY", "did you mean CONCURRENCY?", "RATE_LIMIT"]),
    ],
)
def test_a_misspelled_queue_setting_is_refused_naming_the_valid_names(variable, named):
    # Given a misspelled per-queue setting
    # When a command and a worker start
    command = jobsctl("stats", **{variable: "3"})
    started = worker(**{variable: "3"})
    # Then each refuses with one line naming the variable and the valid names, exit 2
    assert command.returncode == 2, command.stdout + command.stderr
    assert started.returncode != 0
    for line in (one_error_line(command), error_lines(started)[0]):
        assert line.startswith(f"error: setting {variable}: "), line
        assert all(part in line for part in named), line


def test_a_worker_refuses_figures_for_a_queue_none_of_its_actors_uses():
    # Given figures for a queue far from every name of the contract (no misspelling the settings can tell)
    # When a worker with the contract's actors starts
    result = worker(QUEUES__NIGHTLY_ROLLUPS__CONCURRENCY="2")
    # Then it refuses to boot: one line naming the variable and the valid queues
    assert result.returncode != 0
    errors = error_lines(result)
    assert errors, result.stderr[-3000:]
    assert errors[0].startswith("error: setting QUEUES__NIGHTLY_ROLLUPS__CONCURRENCY: no queue 'nightly-rollups'")
    assert "data-export" in errors[0] and "analytics-aggregation" in errors[0]


# Placeholder secrets -----------------------------------------------------------------------


def _example(name: str) -> str:
    """The value docker/.env.example gives `name`."""
    match = re.search(rf"^{name}=(.*)$", ENV_EXAMPLE.read_text(), flags=re.M)
    assert match, name
    return match.group(1).strip()


def test_the_api_refuses_the_admin_token_of_the_env_example():
    # Given docker/.env.example's admin token, left as it is
    token = _example("API_ADMIN_TOKENS")
    # When the API starts
    result = run([str(BIN / "jobsctl"), "api", "--port", str(servers.free_port())], {"API_ADMIN_TOKENS": token})
    # Then it refuses: one line naming the variable, exit 2
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_error_line(result)
    assert line.startswith("error: setting API_ADMIN_TOKENS: a placeholder value"), line
    assert token not in line  # a secret, even a placeholder, is not printed


@pytest.mark.parametrize(
    "env",
    [
        {"API_ADMIN_TOKENS": "a-real-token-1f0c,changeme"},
        {"API_READ_TOKENS": "Change-Me"},
        {"DATABASE_URL": "env-example"},
        {"API_ADMIN_TOKENS": "secret"},
    ],
    ids=["admin-changeme", "read-change-me", "database-password-of-the-env-example", "secret"],
)
def test_a_worker_refuses_a_placeholder_secret_with_one_line_and_exit_2(env):
    # Given a placeholder secret (a token, or the env example's database password in DATABASE_URL)
    if env.get("DATABASE_URL") == "env-example":
        url = make_url(os.environ["DATABASE_URL"]).set(password=_example("POSTGRES_PASSWORD"))
        env = {"DATABASE_URL": url.render_as_string(hide_password=False)}
    variable = next(iter(env))
    # When a worker starts
    result = worker(**env)
    # Then it exits 2 with one line naming the variable
    assert result.returncode == 2, result.stderr[-3000:]
    errors = error_lines(result)
    assert errors and errors[0].startswith(f"error: setting {variable}: a placeholder value"), result.stderr[-3000:]
