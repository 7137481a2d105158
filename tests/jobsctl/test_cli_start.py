"""`jobsctl` starting: its commands load at the top (with every actor), and a bad setting met there is one line."""

from __future__ import annotations

import os
import subprocess

from tests.support.processes import BIN

#: CONTRACT.md's commands (and the additions).
COMMANDS = ("demo", "api", "migrate", "seed", "send", "stats", "jobs", "job", "retry", "cancel", "pause", "resume",
            "clean", "drain", "dead-letters", "schedules", "export", "ingest")  # fmt: skip


def _jobsctl(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "jobsctl"), *args],
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_every_command_of_the_contract():
    # Given the installed `jobsctl`
    # When its help is asked for
    result = _jobsctl("--help")
    # Then it lists every command of CONTRACT.md
    assert result.returncode == 0, result.stdout + result.stderr
    listed = {line.strip("│ ").split(" ")[0] for line in result.stdout.splitlines()}
    assert set(COMMANDS) <= listed, sorted(set(COMMANDS) - listed)


def test_a_malformed_setting_met_while_the_commands_load_is_one_line_naming_it_and_exit_2():
    # Given a malformed setting, which declaring the actors (as the commands load) reads
    # When `jobsctl --help` starts (no command runs: the error comes from loading them)
    result = _jobsctl("--help", QUEUE_MAX_ATTEMPTS="three")
    # Then it is one line naming the variable and exit 2, not a traceback
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: setting QUEUE_MAX_ATTEMPTS"), result.stderr
