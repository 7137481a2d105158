"""PostgreSQL unreachable for 30 s, and Redis restarted, under load: nothing lost, nothing applied twice.

The full runs are `slow` (`make chaos`) and write RELIABILITY.md's rows.
"""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy.engine import make_url

from tests.chaos import ledger_jobs, reliability
from tests.chaos.conftest import describe_unsettled, producer, producer_result, settle
from tests.chaos.faults import OwnRedis, TcpProxy, wait_until, worker_groups

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

OUTAGE_SECONDS = 30


def test_postgres_unreachable_for_30_seconds_under_load(ledger_run):
    run, jobs = ledger_run, 6_000
    direct = make_url(os.environ["DATABASE_URL"])
    proxy = TcpProxy((direct.host or "127.0.0.1", direct.port or 5432))
    proxied = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    env = {"DATABASE_URL": proxied}
    started = time.monotonic()
    try:
        with worker_groups(env, processes_each=1, threads=8) as groups:
            groups.start()
            groups.start()
            # The producer's own job records also go through the proxy: they wait in its buffer.
            sender = producer(run, jobs, env, "--rate", "150", "--work-ms", "5")
            wait_until(lambda: ledger_jobs.counts(run)["applied"] >= 600, 120, 0.05, "600 entries")
            proxy.cut()
            cut_at = ledger_jobs.counts(run)["applied"]
            time.sleep(OUTAGE_SECONDS)
            during = ledger_jobs.counts(run)["applied"] - cut_at
            proxy.restore()
            restored = time.monotonic()
            sent = producer_result(sender)
            wait_until(lambda: ledger_jobs.counts(run)["applied"] >= jobs, 240, 0.5, f"all {jobs} entries applied")
            caught_up = time.monotonic() - restored
            log = groups.log_text()
            states = settle(run, expected=jobs + sent["send_retries"], timeout=150)
            records_at = time.monotonic() - restored
    finally:
        proxy.close()
    row = reliability.record_ledger_run(
        "postgres-outage",
        f"PostgreSQL unreachable for {OUTAGE_SECONDS} s (connections cut, port closed) during {jobs:,} jobs",
        run=run,
        jobs=jobs,
        sent=sent,
        states=states,
        started=started,
        note=(
            f"every job record kept (buffered, written later); jobs done {caught_up:.0f} s and records written"
            f" {records_at:.0f} s after the database returned"
        ),
    )
    assert during <= 16, f"{during} entries applied while the database was away: the cut did not cut"
    assert "does not answer" in log, "no job was held for the outage: nothing was tested"
    assert row["lost"] == 0 and row["applied_twice"] == 0
    # Every record kept: one per job sent, none dead (a held job uses no attempt).
    assert set(states) == {"completed"} and sum(states.values()) == jobs + sent["send_retries"], (
        f"{states}: {describe_unsettled(run)}"
    )


def test_redis_restarted_with_appendonly_under_load(ledger_run):
    run, jobs = ledger_run, 6_000
    own = OwnRedis()
    env = {"REDIS_URL": own.url}
    started = time.monotonic()
    try:
        with worker_groups(env, processes_each=1, threads=8) as groups:
            first = groups.start()
            second = groups.start()
            sender = producer(run, jobs, env, "--rate", "300", "--work-ms", "5", "--delayed-every", "10")
            wait_until(lambda: ledger_jobs.counts(run)["applied"] >= 1_500, 120, 0.05, "1,500 entries")
            own.stop()
            stopped_at = ledger_jobs.counts(run)["applied"]
            time.sleep(5)
            own.start()
            sent = producer_result(sender)
            try:
                wait_until(lambda: ledger_jobs.counts(run)["applied"] >= jobs, 240, 0.5, f"all {jobs} entries applied")
            except AssertionError as error:
                where = describe_unsettled(run, own.url)[:20]
                raise AssertionError(f"{error}: {ledger_jobs.counts(run)}, {where}") from None
            # The same processes throughout: they reconnected by themselves.
            alive = first.poll() is None and second.poll() is None and groups.running == [first, second]
            states = settle(run, env)
            unsettled = describe_unsettled(run, own.url) if set(states) != {"completed"} else []
    finally:
        own.close()
    row = reliability.record_ledger_run(
        "redis-restart",
        f"Redis (appendonly yes) stopped at {stopped_at:,} of {jobs:,} jobs ({sent['delayed']} delayed) "
        "and started 5 s later",
        run=run,
        jobs=jobs,
        sent=sent,
        states=states,
        started=started,
        note=f"workers and producer not restarted; the producer retried {sent['send_retries']} sends",
    )
    assert alive, "a worker exited: it should have reconnected"
    assert stopped_at < jobs - 1_000, "the restart came too late to test anything"
    assert row["lost"] == 0 and row["applied_twice"] == 0
    assert set(states) == {"completed"}, f"{states}: {unsettled}"
