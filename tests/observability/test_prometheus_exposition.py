"""`/metrics` shows cluster-wide totals: right under `dramatiq --processes 2`, not a number per process."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from observability.prometheus_exposition import exposition
from runtime import metrics_recorder
from tests.observability.observed_actors import nap
from tests.observability.workers import dramatiq_worker
from tests.support import store
from tests.support.sample_actors import echo, flaky


def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = exposition()
    assert content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_totals_equal_the_jobs_sent_under_two_worker_processes():
    # Given 60 jobs that succeed (50 ms each) and 4 that fail every attempt, sent to two worker processes
    # (a shallow prefetch, so neither process takes the whole batch and both run jobs)
    with dramatiq_worker(processes=2, threads=4, env={"WORKER_PREFETCH": "4"}) as worker:
        worker.wait_ready(processes=2)
        ok = [nap.send(key=f"ok-{i}", seconds=0.05) for i in range(60)]
        bad = [flaky.send(key=f"bad-{i}", fail_times=99) for i in range(4)]
        for message in ok:
            store.wait_for_state(message.message_id, "completed", timeout=90)
        for message in bad:
            store.wait_for_state(message.message_id, "dead", timeout=90)
        # When /metrics is scraped (after the processes' next flush)
        deadline = time.monotonic() + 15
        while True:
            samples = _samples()
            completed = _value(
                samples, "adjobs_jobs_finished_total", queue="test-observability", actor="nap", state="completed"
            )
            dead = _value(samples, "adjobs_jobs_finished_total", queue="test-jobs", actor="flaky", state="dead")
            if (completed, dead) == (60, 4) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        workers = {store.job(message.message_id)["worker"] for message in ok}
    # Then the totals are exactly the jobs sent, summed over both processes
    assert (completed, dead) == (60, 4)
    assert _value(samples, "adjobs_job_retries_total", queue="test-jobs", actor="flaky") == 8  # 2 retries each
    nap_labels = {"queue": "test-observability", "actor": "nap"}
    assert _value(samples, "adjobs_job_duration_seconds_count", **nap_labels) == 60
    assert _value(samples, "adjobs_job_duration_seconds_bucket", **nap_labels, le="+Inf") == 60
    assert _value(samples, "adjobs_job_duration_seconds_bucket", **nap_labels, le="0.01") == 0  # each took 50 ms
    assert _value(samples, "adjobs_job_duration_seconds_sum", **nap_labels) >= 60 * 0.05
    assert _value(samples, "adjobs_job_duration_seconds_count", queue="test-jobs", actor="flaky") == 12
    # and the dead letters and the store's view agree
    assert _value(samples, "adjobs_queue_dead", queue="test-jobs") == 4
    assert _value(samples, "adjobs_queue_jobs", queue="test-observability", state="completed") == 60
    assert _value(samples, "adjobs_queue_jobs", queue="test-jobs", state="dead") == 4
    assert len(workers) == 2  # both processes ran jobs, and the totals are their sum


def test_queue_depth_and_delayed_gauges_follow_the_broker():
    # Given three waiting jobs and two delayed ones, with no worker running
    for i in range(3):
        echo.send(value=i)
    for i in range(2):
        echo.send_with_options(kwargs={"value": i}, delay=3_600_000)
    # When /metrics is scraped
    samples = _samples()
    # Then the broker's figures and the store's are there
    assert _value(samples, "adjobs_queue_depth", queue="test-jobs") == 3
    assert _value(samples, "adjobs_queue_delayed", queue="test-jobs") == 2
    assert _value(samples, "adjobs_queue_jobs", queue="test-jobs", state="waiting") == 3
    assert _value(samples, "adjobs_queue_jobs", queue="test-jobs", state="delayed") == 2
    assert _value(samples, "adjobs_queue_depth", queue="data-export") == 0  # every contract queue is listed
    assert ("adjobs_queue_depth", (("queue", "data-export"),)) in samples


def test_rate_limit_holds_are_counted_for_queue_control():
    # Given queue control holding back three jobs of one queue in this process
    metrics_recorder.record_rate_limit_hold("data-export")
    metrics_recorder.record_rate_limit_hold("data-export", 2)
    # When the process flushes and /metrics is scraped
    assert metrics_recorder.flush()
    # Then the counter shows them
    assert _value(_samples(), "adjobs_rate_limit_holds_total", queue="data-export") == 3


def test_a_source_that_cannot_be_read_blanks_only_its_own_metrics(redis_client):
    # Given counters that are not what this version wrote
    redis_client.hset("adjobs:metrics:jobs", "malformed", 1)
    # When /metrics is scraped
    samples = _samples()
    # Then the other sources still answer and the failure is visible
    assert _value(samples, "adjobs_metrics_source_up_counters") == 0
    assert _value(samples, "adjobs_metrics_source_up_queues") == 1
    assert ("adjobs_queue_depth", (("queue", "test-jobs"),)) in samples
