"""Secrets from the environment never reach logs or Sentry; payloads never reach a shell or SQL text.

Token checks (no call without a token, read tokens change nothing) are in tests/api/test_endpoints.py,
over every route of the OpenAPI document; payload secrets in Sentry in tests/observability/test_sentry.py.
"""

from __future__ import annotations

import ast
import configparser
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.observability.observed_actors import leaky
from tests.observability.receivers import http_receiver, sentry_events
from tests.observability.workers import dramatiq_worker
from tests.support import store
from tests.support.processes import ROOT

DB_PASSWORD = "db-pw-9c2f-never-leaves"
ADMIN_TOKEN = "admin-tok-77e1-never-leaves"
READ_TOKEN = "read-tok-41aa-never-leaves"
SMTP_PASSWORD = "smtp-pw-0b3d-never-leaves"


def _root_packages() -> tuple[str, ...]:
    """Every package of the project: the root packages of the layers contract (.importlinter)."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return tuple(config["importlinter"]["root_packages"].split())


PROJECT_PACKAGES = _root_packages()


def test_secrets_in_the_environment_reach_neither_the_logs_nor_sentry():
    # PostgreSQL here trusts local connections, so a password in the URL is accepted and ignored.
    database_url = make_url(os.environ["DATABASE_URL"]).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    with http_receiver() as (url, received):
        env = {
            "SENTRY_DSN": url.replace("http://", "http://public@") + "/1",
            "DATABASE_URL": database_url,
            "API_ADMIN_TOKENS": ADMIN_TOKEN,
            "API_READ_TOKENS": READ_TOKEN,
            "SMTP_URL": f"smtp://reports:{SMTP_PASSWORD}@127.0.0.1:1",
            "LOG_LEVEL": "DEBUG",
        }
        with dramatiq_worker(env=env) as worker:
            worker.wait_ready()
            dead = leaky.send(key="secrets", api_token="t", password="p", fail_times=99)
            assert store.wait_for_state(dead.message_id, "dead", timeout=60)["attempts"] == 3
            assert received.wait_for(lambda r: len(sentry_events(r)) >= 1, timeout=30), worker.output()[-3000:]
            assert worker.terminate() == 0
            output = worker.output()
    assert "leaky failure" in output  # the log has the failures: it was looked at
    bodies = [body for _path, _headers, body in received.snapshot()]
    for secret in (DB_PASSWORD, ADMIN_TOKEN, READ_TOKEN, SMTP_PASSWORD):
        assert secret not in output, f"{secret} in the worker's log"
        for body in bodies:
            at = body.find(secret.encode())
            assert at == -1, body[max(0, at - 300) : at + 100]


def _project_files() -> list[Path]:
    files = [path for package in PROJECT_PACKAGES for path in (ROOT / package).rglob("*.py")]
    return [*files, ROOT / "schedules.py"]


def _value_names(node: ast.AST) -> set[str]:
    """Variable names a formatted SQL part reads (functions called on them are not values)."""
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and id(n) not in called}


def test_no_project_code_runs_a_shell_or_builds_sql_text_from_values():
    """A static check: no shell, and SQL text built with f-strings only from module constants."""
    findings = []
    for path in _project_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        constants = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name) and target.id.isupper()
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if name in ("system", "popen") or any(
                kw.arg == "shell" and isinstance(kw.value, ast.Constant) and kw.value.value for kw in node.keywords
            ):
                findings.append(f"{where}: runs a shell")
            if name in ("text", "exec_driver_sql", "execute") and node.args:
                sql = node.args[0]
                if isinstance(sql, ast.JoinedStr):
                    parts = [value.value for value in sql.values if isinstance(value, ast.FormattedValue)]
                elif isinstance(sql, ast.Call) and getattr(sql.func, "attr", "") == "format":
                    parts = [*sql.args, *(keyword.value for keyword in sql.keywords)]
                elif isinstance(sql, ast.BinOp):
                    parts = [sql]
                else:
                    continue
                names = {name for part in parts for name in _value_names(part)}
                if not names <= constants:
                    findings.append(f"{where}: SQL text made with {sorted(names - constants)}")
    assert not findings, "\n".join(findings)
