"""How long a job held by its queue's concurrency waits before it asks again."""

from __future__ import annotations

import random

from middleware.queue_limits import CONCURRENCY_BACKOFF_CAP_MS, CONCURRENCY_BACKOFF_MS, concurrency_backoff_ms


def test_a_first_hold_asks_again_within_tens_of_milliseconds():
    rng = random.Random(1)
    waits = [concurrency_backoff_ms(0, rng) for _ in range(500)]
    assert min(waits) >= CONCURRENCY_BACKOFF_MS // 2
    assert max(waits) <= CONCURRENCY_BACKOFF_MS


def test_holds_in_a_row_wait_longer_each_time_up_to_the_cap():
    rng = random.Random(2)
    ceilings = [max(concurrency_backoff_ms(holds, rng) for _ in range(300)) for holds in range(12)]
    # The longest wait grows with each hold until the cap, never past it
    growing = [ceiling for ceiling in ceilings if ceiling < CONCURRENCY_BACKOFF_CAP_MS * 0.9]
    assert growing == sorted(growing) and len(growing) >= 4
    assert ceilings[3] > 4 * ceilings[0]
    assert max(ceilings) <= CONCURRENCY_BACKOFF_CAP_MS
    assert ceilings[-1] > CONCURRENCY_BACKOFF_CAP_MS * 0.9


def test_a_job_held_a_thousand_times_still_waits_at_most_the_cap():
    assert CONCURRENCY_BACKOFF_CAP_MS // 2 <= concurrency_backoff_ms(1000) <= CONCURRENCY_BACKOFF_CAP_MS
