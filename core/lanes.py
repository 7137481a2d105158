"""Priority lanes: which lane a message's `priority` option means (the broker keeps each lane's list).

A lane is a whole number from 1 (CRITICAL) to 10 (BACKGROUND). Whatever a producer put in
`options["priority"]` is made one, here and in `dispatch.lua` (`lane_number`) alike, so a
message enqueued, requeued on a graceful stop or given back by maintenance lands in a lane
the fetch reads: a number (or a string of one, "2.5") is rounded half up and clamped to
1..10; anything else (none, a word, NaN, true) is NORMAL.
"""

from __future__ import annotations

import math
from typing import Any

LANES = 10
NORMAL = 5


def lane_of(priority: Any) -> int:
    """The lane of a message whose `priority` option is `priority` (as dispatch.lua's `lane_number`)."""
    if isinstance(priority, bool):  # JSON true/false: not a number to Lua either
        return NORMAL
    try:
        value = float(priority)
    except (TypeError, ValueError, OverflowError):
        return NORMAL
    if math.isnan(value):
        return NORMAL
    return math.floor(min(max(value, 1.0), float(LANES)) + 0.5)
