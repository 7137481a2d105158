"""Workers killed with SIGKILL mid-run, and every worker stopped with SIGTERM: nothing lost, nothing applied twice.

The full runs (10,000 jobs) are `slow` (`make chaos`) and write RELIABILITY.md's rows; a
smaller run of each is part of `make test`.
"""

from __future__ import annotations

import time

import pytest

from tests.chaos import ledger_jobs, reliability
from tests.chaos.conftest import FAST_RECOVERY, describe_unsettled, producer, producer_result, settle
from tests.chaos.faults import wait_until, worker_groups

FULL = pytest.param(10_000, 5, marks=[pytest.mark.slow, pytest.mark.timeout(600)], id="10000-jobs")
SMALL = pytest.param(1_500, 2, marks=pytest.mark.timeout(300), id="1500-jobs")


@pytest.mark.parametrize(("jobs", "kills"), [SMALL, FULL])
def test_workers_killed_with_sigkill_lose_nothing(ledger_run, jobs, kills):
    run = ledger_run
    started = time.monotonic()
    with worker_groups(FAST_RECOVERY, processes_each=1, threads=8) as groups:
        groups.start()
        groups.start()
        sender = producer(run, jobs, None, "--rate", str(jobs / 10), "--work-ms", "5")
        # Kill a worker group (its main process and its worker process) at evenly spaced points of the
        # run and start a fresh one in its place, as an orchestrator would.
        for k in range(1, kills + 1):
            target = jobs * k // (kills + 1)
            wait_until(lambda t=target: ledger_jobs.counts(run)["applied"] >= t, 120, 0.05, f"{target} entries")
            groups.kill(0)
            groups.start()
        sent = producer_result(sender)
        wait_until(lambda: ledger_jobs.counts(run)["applied"] >= jobs, 180, 0.5, f"all {jobs} entries applied")
        states = settle(run)
    row = reliability.record_ledger_run(
        f"sigkill-{jobs}",
        f"`kill -9` of a worker group {kills} times during {jobs:,} jobs (2 groups x 8 threads)",
        run=run,
        jobs=jobs,
        sent=sent,
        states=states,
        started=started,
    )
    assert groups.killed == kills
    assert row["lost"] == 0 and row["applied_twice"] == 0
    assert set(states) == {"completed"}, f"job records not settled: {states}: {describe_unsettled(run)}"


@pytest.mark.parametrize(
    "jobs",
    [
        pytest.param(1_500, marks=pytest.mark.timeout(300), id="1500-jobs"),
        pytest.param(10_000, marks=[pytest.mark.slow, pytest.mark.timeout(600)], id="10000-jobs"),
    ],
)
def test_sigterm_to_every_worker_then_a_restart_loses_nothing(ledger_run, jobs):
    run = ledger_run
    started = time.monotonic()
    with worker_groups({}, processes_each=1, threads=8) as groups:
        groups.start()
        groups.start()
        sender = producer(run, jobs, None, "--work-ms", "20")
        wait_until(lambda: ledger_jobs.counts(run)["applied"] >= jobs // 3, 120, 0.05, "a third applied")
        codes = groups.terminate_all()
        stopped_at = ledger_jobs.counts(run)["applied"]
        sent = producer_result(sender)
        log = groups.log_text()
        assert codes == [0, 0], f"workers did not stop cleanly: {codes}\n{log[-3000:]}"
        # The group-wide SIGTERM reaches each worker process twice (directly and from its main process):
        # taken as one graceful stop. And jobs returning a value are not warned about (Results is there).
        assert "Killing worker process" not in log and "returned a value that is not None" not in log
        assert stopped_at < jobs, "everything finished before the stop: nothing was tested"
        time.sleep(1)
        assert ledger_jobs.counts(run)["applied"] == stopped_at  # stopped means stopped
        groups.start()
        groups.start()
        wait_until(lambda: ledger_jobs.counts(run)["applied"] >= jobs, 180, 0.5, f"all {jobs} entries applied")
        states = settle(run)
    row = reliability.record_ledger_run(
        f"sigterm-{jobs}",
        f"SIGTERM to every worker at {stopped_at:,} of {jobs:,} jobs, then start again",
        run=run,
        jobs=jobs,
        sent=sent,
        states=states,
        started=started,
    )
    assert row["lost"] == 0 and row["applied_twice"] == 0
    assert row["ran_twice"] == 0, "a graceful stop finishes running jobs and gives back the others"
    assert set(states) == {"completed"}, f"job records not settled: {states}: {describe_unsettled(run)}"
