"""Which lane a message's `priority` option means (pure): always a lane the fetch reads."""

from __future__ import annotations

from typing import Any

import pytest

from core.lanes import lane_of


@pytest.mark.parametrize(
    ("priority", "lane"),
    [(2.5, 3), ("2.5", 3), (2.4, 2), ("7", 7), (1, 1), (0.2, 1), (-4, 1), (10.6, 10), (float("inf"), 10)],
)
def test_a_numeric_priority_is_rounded_half_up_to_a_lane_between_1_and_10(priority: Any, lane: int):
    assert lane_of(priority) == lane


@pytest.mark.parametrize("priority", [None, "soon", True, float("nan"), [], {}])
def test_a_priority_that_is_not_a_number_is_normal(priority: Any):
    assert lane_of(priority) == 5
