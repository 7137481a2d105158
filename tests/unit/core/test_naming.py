"""Queue naming: the delayed and dead-letter halves of a queue are that queue, by Dramatiq's own rule."""

from __future__ import annotations

import pytest
from dramatiq.common import dq_name, xq_name

from core.naming import canonical_queue, is_delay_queue


@pytest.mark.parametrize("queue", ["reports", "data-export", "analytics-aggregation"])
def test_a_queue_and_its_broker_halves_all_name_the_queue(queue: str):
    # Given a queue and the names its broker gives its delayed and dead-letter messages
    names = [queue, dq_name(queue), xq_name(queue)]
    # When each is made canonical, Then each is the queue itself
    assert [canonical_queue(name) for name in names] == [queue, queue, queue]


def test_only_the_delayed_half_of_a_queue_is_a_delay_queue():
    # Given a queue, its delayed half and its dead-letter half
    # Then only the delayed half is a delay queue (its jobs keep falling due while the queue is paused)
    assert is_delay_queue(dq_name("cleanup"))
    assert not is_delay_queue("cleanup")
    assert not is_delay_queue(xq_name("cleanup"))
