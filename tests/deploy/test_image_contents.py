"""What docker/Dockerfile installs, built the same way without Docker: the context its ignore file
leaves, `pip install --no-deps .` from it, then the processes' imports and `jobsctl migrate`
run from that install alone (no checkout on the path), plus the containers' health checks."""

from __future__ import annotations

import fnmatch
import http.server
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from db.migrate import alembic_config
from tests.deploy.compose import ROOT
from tests.support import processes, servers

IGNORE_FILE = ROOT / "docker" / "Dockerfile.dockerignore"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` keeps, `**/` matches at any depth."""
    name = relative.rsplit("/", 1)[-1]
    excluded = False
    for raw in patterns:
        pattern = raw.lstrip("!").rstrip("/")
        hit = fnmatch.fnmatch(name, pattern[3:]) if pattern.startswith("**/") else fnmatch.fnmatch(relative, pattern)
        if hit:
            excluded = not raw.startswith("!")
    return excluded


def _build_context(target: Path) -> None:
    """Copy the repository as `docker build` would send it (top-level and `**/` patterns)."""
    patterns = [line.strip() for line in IGNORE_FILE.read_text().splitlines() if line.strip() and line[0] != "#"]

    def ignore(directory: str, names: list[str]) -> set[str]:
        base = Path(directory).relative_to(ROOT).as_posix()
        return {name for name in names if _ignored(name if base == "." else f"{base}/{name}", patterns)}

    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)


@pytest.fixture(scope="module")
def image_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project installed from the Docker build context into a directory of its own."""
    context = tmp_path_factory.mktemp("context") / "src"
    _build_context(context)
    assert not (context / "tests").exists() and not (context / ".venv").exists()
    site = tmp_path_factory.mktemp("image-site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target", str(site), "."],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return site


def _run_installed(site: Path, code: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -S`: no .pth files, so the checkout's editable install cannot stand in for the image's."""
    dependencies = sysconfig.get_paths()["purelib"]
    return subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=cwd,
        env={**os.environ, **(env or {}), "PYTHONPATH": f"{site}{os.pathsep}{dependencies}"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_image_install_holds_every_module_the_processes_import(image_site, tmp_path):
    result = _run_installed(
        image_site,
        "import actors, jobsctl.main, schedules, settings, db.migrate, api, control, observability.health\n"
        "import pathlib, sys\n"
        "print(pathlib.Path(actors.__file__).parent.parent)\n"
        "print(len(list(pathlib.Path(db.migrate.MIGRATIONS, 'versions').glob('*.py'))))\n",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    location, migrations = result.stdout.split()
    assert Path(location) == image_site  # not the checkout
    assert int(migrations) == len(list((ROOT / "db" / "migrations" / "versions").glob("0*.py")))


def test_jobsctl_migrate_from_the_image_install_brings_a_fresh_database_to_head(image_site, tmp_path):
    # Given an empty database
    admin = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    name, url = servers.create_database(admin + "/postgres")
    try:
        # When the migrate service's command runs from the image's install
        result = _run_installed(
            image_site,
            "import sys\nfrom jobsctl.main import main\nsys.argv = ['jobsctl', 'migrate']\nmain()\n",
            cwd=tmp_path,
            env={"DATABASE_URL": url},
        )
        assert result.returncode == 0, result.stderr + result.stdout
        # Then the schema is at the newest revision, with the contract's tables
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        engine = create_engine(url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
            tables = set(
                connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'")).scalars()
            )
        engine.dispose()
        assert {"ad_events", "analytics_rollups", "jobs"} <= tables
    finally:
        servers.drop_database(admin + "/postgres", name)


def _healthcheck(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_worker_health_check_passes_only_while_a_worker_on_this_host_beats():
    assert _healthcheck("worker").returncode == 1  # no worker yet
    with processes.worker_process(processes=1, threads=1, env={"WORKER_HEARTBEAT_INTERVAL": "0.5"}):
        for _ in range(40):  # the worker boots in a few seconds
            check = _healthcheck("worker")
            if check.returncode == 0:
                break
        assert check.returncode == 0, check.stderr


def test_the_beat_health_check_fails_when_the_broker_does_not_answer():
    assert _healthcheck("beat").returncode == 0
    failed = _healthcheck("beat", env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert failed.returncode == 1 and "cannot reach the broker" in failed.stderr


@pytest.fixture
def health_server() -> Iterator[dict[str, object]]:
    """A stand-in /health that answers whatever the test sets."""
    reply: dict[str, object] = {"code": 200, "body": {"status": "healthy"}}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(reply["body"]).encode()
            self.send_response(int(reply["code"]))  # type: ignore[call-overload]
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    reply["url"] = f"http://127.0.0.1:{server.server_address[1]}/health"
    yield reply
    server.shutdown()


def test_the_api_health_check_accepts_healthy_and_degraded_and_refuses_unhealthy(health_server):
    url = str(health_server["url"])
    assert _healthcheck("api", url).returncode == 0
    health_server["body"] = {"status": "degraded"}
    assert _healthcheck("api", url).returncode == 0
    health_server.update(code=503, body={"status": "unhealthy"})
    assert _healthcheck("api", url).returncode == 1
    assert _healthcheck("nothing").returncode == 2
