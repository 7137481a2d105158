"""`jobsctl`'s one error mapping, end to end: each error kind leaves as one line and its kind's exit code."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.processes import BIN, run_python

#: kind -> exit code (README: 1 failed, 2 invalid input, 3 not found, 4 a server unreachable).
EXIT_CODES = {
    "NotFound": 3,
    "InvalidInput": 2,
    "Conflict": 1,
    "Unauthorized": 1,
    "Forbidden": 1,
    "ServiceUnavailable": 4,
    "Misconfigured": 2,
    "JobsError": 1,
}
UNREACHABLE_POSTGRES = {"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/adjobs"}


@pytest.mark.parametrize("kind", list(EXIT_CODES))
def test_an_error_of_each_kind_raised_in_a_command_exits_with_its_kinds_code_and_one_line(kind):
    # Given a jobsctl command that raises an error of this kind
    script = f"""
import sys

import errors
from jobsctl.main import app, main


@app.command()
def probe() -> None:
    raise errors.{kind}("probe of {kind}")


sys.argv = ["jobsctl", "probe"]
main()
"""
    # When it runs as jobsctl does
    result = run_python(script)
    # Then it exits with the kind's code after one line naming the error, without a traceback
    assert result.returncode == EXIT_CODES[kind], result.stderr
    assert result.stderr.strip() == f"error: probe of {kind}"


@pytest.mark.parametrize("command", [["migrate"], ["seed", "--days", "1", "--rows-per-day", "10"]])
def test_a_command_run_while_postgresql_is_unreachable_exits_4_with_one_line(command):
    # Given a DATABASE_URL where nothing listens
    # When a command that needs the database runs
    result = subprocess.run(
        [str(BIN / "jobsctl"), *command],
        env={**os.environ, **UNREACHABLE_POSTGRES},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then it says so in one line and exits 4 (a server unreachable), not with a traceback
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stderr.startswith("error: Redis or PostgreSQL cannot be reached"), result.stderr
    assert "Traceback" not in result.stderr


def test_an_error_message_with_brackets_is_printed_as_it_is_not_read_as_markup():
    # Given a command whose error message holds square brackets, as field paths and driver texts do
    script = """
import sys

import errors
from jobsctl.main import app, main


@app.command()
def probe() -> None:
    raise errors.InvalidInput("kwargs.items[0]: [/bad] is not markup")


sys.argv = ["jobsctl", "probe"]
main()
"""
    # When it runs
    result = run_python(script)
    # Then the line reads exactly as raised, with the kind's exit code
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "error: kwargs.items[0]: [/bad] is not markup"
