"""Two `periodiq` beats for three minutes: each minute's tick becomes exactly one job,
and killing one beat halfway changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from db.engine import get_engine
from db.models import JobRecord
from runtime.store_buffer import get_buffer
from scheduling import state
from tests.support import processes
from tests.support.sample_schedules import TEST_SCHEDULE


def start_beat() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(processes.BIN / "periodiq"), "actors", "tests.support.sample_schedules"],
        cwd=processes.ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def sleep_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def test_two_beats_over_three_minutes_enqueue_each_tick_exactly_once(redis_client):
    # Given the test schedule evaluated up to now, a worker, and two beats
    start = datetime.now(UTC)
    state.advance_watermark(TEST_SCHEDULE, start)
    first_boundary = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    ticks = [first_boundary + timedelta(minutes=i) for i in range(3)]
    beats = [start_beat(), start_beat()]
    try:
        with processes.worker_process("actors", "tests.support.sample_schedules", processes=1, threads=2):
            # When one beat is killed between the first and the second tick
            sleep_until(ticks[0] + timedelta(seconds=30))
            os.killpg(beats[0].pid, signal.SIGKILL)
            beats[0].wait()
            # and the other runs on past the third tick
            sleep_until(ticks[2] + timedelta(seconds=20))
            os.killpg(beats[1].pid, signal.SIGTERM)
            beats[1].wait(timeout=30)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                get_buffer().flush()
                with get_engine().connect() as connection:
                    rows = connection.execute(
                        select(JobRecord.payload, JobRecord.state).where(JobRecord.actor == "echo")
                    ).all()
                if len(rows) >= 3 and all(s == "completed" for _, s in rows):
                    break
                time.sleep(0.5)
    finally:
        for beat in beats:
            if beat.poll() is None:
                os.killpg(beat.pid, signal.SIGKILL)
    # Then there is exactly one job per tick: three jobs for three minutes
    labels = sorted(payload["label"] for payload, _ in rows)
    assert labels == [tick.isoformat() for tick in ticks], labels
    assert all(job_state == "completed" for _, job_state in rows)
