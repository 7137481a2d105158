"""What a heartbeat publishes: a worker's jobs running now with their start, a beat's last tick; no server needed."""

from __future__ import annotations

import os
import time

from runtime.heartbeats import BEAT, Heartbeat


def test_a_worker_publishes_the_jobs_it_runs_now_oldest_first_and_forgets_those_that_ended():
    # Given a worker's heartbeat (not started: nothing is written)
    heartbeat = Heartbeat({"queues": ["*"], "threads": 2})
    # When two jobs start, one after the other, and the first ends
    before = time.time()
    heartbeat.job_started("job-1", "reports", "generate_report")
    heartbeat.job_started("job-2", "cleanup", "cleanup")
    published_both = heartbeat.published()
    heartbeat.job_ended("job-1")
    heartbeat.job_ended("never-started")  # an end without a start changes nothing
    published = heartbeat.published()
    # Then it published both, oldest first, each with its queue, name and start; then only the one still running
    assert [job["id"] for job in published_both["jobs"]] == ["job-1", "job-2"]
    assert [(job["id"], job["queue"], job["name"]) for job in published["jobs"]] == [("job-2", "cleanup", "cleanup")]
    assert before <= published["jobs"][0]["startedAt"] <= time.time()
    # and what the process is: host, PID, queues, threads, start time
    assert published["pid"] == os.getpid() and published["queues"] == ["*"] and published["threads"] == 2
    assert published["startedAt"] <= before


def test_a_start_or_an_end_asks_for_a_beat_soon_and_an_unknown_end_does_not():
    heartbeat = Heartbeat({"queues": ["*"], "threads": 1})
    heartbeat.job_started("job-1", "reports", "generate_report")
    assert heartbeat._changed.is_set()
    heartbeat._changed.clear()
    heartbeat.job_ended("no-such-job")
    assert not heartbeat._changed.is_set()
    heartbeat.job_ended("job-1")
    assert heartbeat._changed.is_set()


def test_a_beat_publishes_its_last_tick_and_its_start_and_no_jobs():
    # Given a beat's heartbeat made when its process started
    heartbeat = Heartbeat({}, kind=BEAT, started_at=1_700_000_000.0)
    # When it sends two ticks
    heartbeat.update(lastTick="2026-12-01 10:00:00+00:00", lastTickActor="dispatch_schedules")
    heartbeat.update(lastTick="2026-12-01 10:01:00+00:00", lastTickActor="dispatch_schedules")
    # Then it publishes the last one, its start, and no job list
    published = heartbeat.published()
    assert published["lastTick"] == "2026-12-01 10:01:00+00:00"
    assert published["startedAt"] == 1_700_000_000.0
    assert "jobs" not in published
