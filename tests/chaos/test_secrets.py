"""No secret from the settings leaves a process: not to Sentry, a log, an API reply, `/health`, `/metrics`, the CLI.

Every secret-bearing setting holds a distinct secret: the PostgreSQL password (PostgreSQL here
trusts local connections, so any password in the URL is accepted), the Redis password (a
throw-away `redis-server --requirepass`), the broker's (an ACL user on that server), the SMTP
password (a real aiosmtpd server that refuses the login), the alert webhook's secret path and
query, the Sentry DSN's secret key and the API tokens. Every job type then fails to its end in
a real worker, once with text logs and once with JSON logs, the alerts monitor fires at the
webhook, and everything that went out is searched for every secret.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy.engine import make_url

from tests.observability.receivers import http_receiver, sentry_events
from tests.observability.workers import dramatiq_worker
from tests.support import store
from tests.support.processes import BIN, ROOT
from tests.support.servers import _wait_for_port, free_port

SECRETS = {
    "DATABASE_URL password": "db-pw-5e1c-never-leaves",
    "REDIS_URL password": "redis-pw-8a2d-never-leaves",
    "BROKER_URL password": "broker-pw-3f7b-never-leaves",
    "SMTP_URL password": "smtp-pw-c41e-never-leaves",
    "ALERT_WEBHOOK_URL path": "hook-path-7d90-never-leaves",
    "ALERT_WEBHOOK_URL query": "hook-key-0a6f-never-leaves",
    "SENTRY_DSN secret key": "dsn-secret-b35c-never-leaves",
    "API_ADMIN_TOKENS": "admin-tok-62e8-never-leaves",
    "API_READ_TOKENS": "read-tok-19d4-never-leaves",
}
#: The DSN's public key travels in Sentry's own envelope header (`trace.public_key`), as the SDK sends it;
#: everywhere else (logs, API, CLI, the events themselves) it is a secret like the others.
DSN_PUBLIC_KEY = "dsn-public-4c7a-never-logged"
#: One job of each type that fails to its end: (queue, actor, payload).
FAILING_JOBS = (
    ("analytics-aggregation", "aggregate_analytics", {"publisherId": "nobody", "granularity": "day"}),
    ("data-export", "export_data", {"publisherId": "nobody", "format": "csv"}),
    ("report-generation", "generate_report", {"reportType": "daily", "recipients": ["ops@example.com"]}),
    ("metrics-calculation", "calculate_metrics", {"publisherId": "nobody", "metricType": "performance"}),
    ("cache-warming", "warm_cache", {}),  # CACHE_POPULAR_KEYS holds a key no query answers
    ("cleanup", "cleanup", {"type": "old_logs"}),  # LOG_DIR is a symlink loop
)


@contextmanager
def redis_with_passwords(directory: Path) -> Iterator[int]:
    """A throw-away redis-server whose default user needs REDIS_URL's password and a `broker` user BROKER_URL's."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: this test starts a throw-away one with a password")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
         str(directory), "--requirepass", SECRETS["REDIS_URL password"]],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(port, "redis-server")
        admin = redis.Redis(port=port, password=SECRETS["REDIS_URL password"])
        admin.acl_setuser("broker", enabled=True, passwords=[f"+{SECRETS['BROKER_URL password']}"],
                          keys=["*"], channels=["*"], commands=["+@all"])  # fmt: skip
        yield port
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def smtp_refusing_logins() -> Iterator[int]:
    """A real SMTP server (aiosmtpd) that offers AUTH without TLS and refuses every login."""
    port = free_port()
    controller = Controller(
        object(),
        hostname="127.0.0.1",
        port=port,
        authenticator=lambda *args: AuthResult(success=False, handled=False),  # aiosmtpd answers 535
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextmanager
def api_server(env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(BIN / "jobsctl"), "api", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, "jobsctl api", timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(15)


def secret_env(tmp_path: Path, redis_port: int, smtp_port: int, receiver: str) -> dict[str, str]:
    database_url = make_url(os.environ["DATABASE_URL"]).set(password=SECRETS["DATABASE_URL password"])
    loop = tmp_path / "logs-loop"
    loop.symlink_to(loop)
    return {
        **os.environ,
        "DATABASE_URL": database_url.render_as_string(hide_password=False),
        "REDIS_URL": f"redis://:{SECRETS['REDIS_URL password']}@127.0.0.1:{redis_port}/0",
        "BROKER_URL": f"redis://broker:{SECRETS['BROKER_URL password']}@127.0.0.1:{redis_port}/0",
        "SMTP_URL": f"smtp://reports:{SECRETS['SMTP_URL password']}@127.0.0.1:{smtp_port}",
        "ALERT_WEBHOOK_URL": f"{receiver}/hooks/{SECRETS['ALERT_WEBHOOK_URL path']}"
        f"?key={SECRETS['ALERT_WEBHOOK_URL query']}",
        "SENTRY_DSN": receiver.replace("http://", f"http://{DSN_PUBLIC_KEY}:{SECRETS['SENTRY_DSN secret key']}@")
        + "/1",
        "API_ADMIN_TOKENS": SECRETS["API_ADMIN_TOKENS"],
        "API_READ_TOKENS": SECRETS["API_READ_TOKENS"],
        "CACHE_POPULAR_KEYS": "top-publishers:7d,no-such-query",
        "LOG_DIR": str(loop),
        "ALERT_FAILED_THRESHOLD": "0",
        "LOG_LEVEL": "DEBUG",
    }


def seeded_publisher() -> str:
    from db.engine import get_engine
    from db.events import ensure_publishers

    with get_engine().begin() as connection:
        return ensure_publishers(connection, 1)[0]


def run_failing_jobs(api: str, log_format: str, env: dict[str, str], publisher: str, replies: list[str]) -> str:
    """Every job type through the API into a worker writing `log_format` logs, each to `dead`; the worker's log."""
    admin = {"Authorization": f"Bearer {SECRETS['API_ADMIN_TOKENS']}"}
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    dates = {"startDate": yesterday, "endDate": yesterday, "date": yesterday, "period": yesterday}
    with dramatiq_worker(env={**env, "LOG_FORMAT": log_format}) as worker:
        worker.wait_ready()
        sent = []
        for queue, actor, data in FAILING_JOBS:
            payload = {**data, **{k: v for k, v in dates.items() if k in _DATE_FIELDS[actor]}}
            if actor == "generate_report":
                payload["publisherId"] = publisher
            reply = httpx.post(f"{api}/api/v1/queues/{queue}/jobs", json={"jobName": actor, "data": payload},
                               headers=admin, timeout=30)  # fmt: skip
            replies.append(reply.text)
            assert reply.is_success, reply.text
            sent.append((queue, reply.json()["data"]["jobId"]))
        for queue, job_id in sent:
            store.wait_for_state(job_id, "dead", timeout=60)
            replies.append(httpx.get(f"{api}/api/v1/queues/{queue}/jobs/{job_id}", headers=admin, timeout=30).text)
        assert worker.terminate() == 0  # flushes what the Sentry SDK still holds
        return worker.output()


_DATE_FIELDS = {
    "aggregate_analytics": ("startDate", "endDate"),
    "export_data": ("startDate", "endDate"),
    "generate_report": ("date",),
    "calculate_metrics": ("period",),
    "warm_cache": (),
    "cleanup": (),
}

MONITOR = """
import logging
from wiring.sentry import init_sentry
from observability import alerts
from telemetry import sentry_events
from telemetry.logs import configure_logging
from settings import get_settings
configure_logging(get_settings(), level=logging.DEBUG)
init_sentry(get_settings())
logging.getLogger("adjobs.test").info("settings in use: %r", get_settings())
print(alerts.run_monitor())
sentry_events.flush()
"""


def test_no_secret_from_the_settings_reaches_sentry_logs_api_replies_health_metrics_or_the_cli(tmp_path):
    texts: dict[str, str] = {}
    replies: list[str] = []
    with (
        http_receiver() as (receiver, received),
        redis_with_passwords(tmp_path) as redis_port,
        smtp_refusing_logins() as smtp_port,
    ):
        # Given a distinct secret in every secret-bearing setting
        env = secret_env(tmp_path, redis_port, smtp_port, receiver)
        publisher = seeded_publisher()
        with api_server(env, tmp_path / "api.log") as api:
            # When every job type fails to its end, with text logs and then with JSON logs
            for log_format in ("text", "json"):
                texts[f"worker log ({log_format})"] = run_failing_jobs(api, log_format, env, publisher, replies)
            # and the monitor alerts on the dead jobs, through the webhook and Sentry
            monitor = subprocess.run([sys.executable, "-c", MONITOR], cwd=ROOT, env=env, capture_output=True,
                                     text=True, timeout=60)  # fmt: skip
            texts["monitor output"] = monitor.stdout + monitor.stderr
            # and the API is asked for its health, metrics, failed jobs, and refuses bad calls
            for token in (None, SECRETS["API_READ_TOKENS"], SECRETS["API_ADMIN_TOKENS"]):
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                for path in ("/health", "/metrics", "/api/v1/jobs/failed", "/api/v1/queues/metrics"):
                    replies.append(httpx.get(f"{api}{path}", headers=headers, timeout=30).text)
            replies.append(httpx.post(f"{api}/api/v1/queues/cleanup/jobs", json={"jobName": "cleanup", "data": {}},
                                      headers={"Authorization": "Bearer wrong"}, timeout=30).text)  # fmt: skip
            replies.append(httpx.post(f"{api}/api/v1/queues/cleanup/jobs", json={"jobName": 7},
                                      headers={"Authorization": f"Bearer {SECRETS['API_ADMIN_TOKENS']}"},
                                      timeout=30).text)  # fmt: skip
        texts["API log"] = (tmp_path / "api.log").read_text(errors="replace")
        # and the CLI prints where it connects and what it sees
        for command in (["migrate"], ["stats"], ["dead-letters"]):
            done = subprocess.run([str(BIN / "jobsctl"), *command], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=60)  # fmt: skip
            texts[f"jobsctl {command[0]}"] = done.stdout + done.stderr
        assert received.wait_for(lambda r: len(sentry_events(r)) >= 2 * len(FAILING_JOBS), timeout=30)
        envelopes = [body.decode(errors="replace") for path, _h, body in received.snapshot() if "envelope" in path]
        webhook_posts = [body.decode(errors="replace") for path, _h, body in received.snapshot() if "hooks" in path]
    texts["API replies"] = "\n".join(replies)

    # Then what went out was looked at: the failures are in the logs, Sentry and the webhook got them
    assert "AuthenticationError" in texts["worker log (text)"], texts["worker log (text)"][-3000:]
    assert '"level": "ERROR"' in texts["worker log (json)"], texts["worker log (json)"][-3000:]
    assert "schema up to date" in texts["jobsctl migrate"], texts["jobsctl migrate"]
    assert webhook_posts, texts["monitor output"][-3000:]
    events = sentry_events(received)
    assert {tag for event in events if (tag := event.get("tags", {}).get("actor"))} >= {a for _q, a, _d in FAILING_JOBS}
    # and no secret is in any of it
    outputs = {**texts, **{f"Sentry envelope {i}": body for i, body in enumerate(envelopes)}}
    outputs.update({f"webhook post {i}": body for i, body in enumerate(webhook_posts)})
    leaks = [
        f"{name} in {where}: ...{text[max(0, at - 200) : at + 60]}..."
        for where, text in outputs.items()
        for name, secret in SECRETS.items()
        if (at := text.find(secret)) != -1
    ]
    leaks += [
        f"DSN public key in {where}"
        for where, text in outputs.items()
        if DSN_PUBLIC_KEY in _without_envelope_headers(text, where)
    ]
    assert not leaks, "\n\n".join(leaks)


def _without_envelope_headers(text: str, where: str) -> str:
    """A Sentry envelope without its header line (where the SDK puts the DSN's public key); other text as it is."""
    return text.split("\n", 1)[1] if where.startswith("Sentry envelope") else text
