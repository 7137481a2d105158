"""A beat's claims, fast: claims a schedule tick every 50 ms as `scheduling.state.claim` does, for the failover test.

    python -m tests.chaos.tick_claimer NAME SECONDS

Two of these run at once against the same Redis (the two beats CONTRACT.md allows); each
prints one JSON line: the ticks it claimed, and the ticks it could not ask about at all (Redis
away for longer than the tick's grace of 2 s). A tick both claimed was enqueued twice; one
neither claimed was missed.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

import redis

from scheduling import state

#: Ticks per second.
RATE = 20
#: A tick not claimed within this many seconds of its time is given up (the beat's grace is larger).
GRACE = 2.0


def main(argv: list[str] | None = None) -> int:
    name, seconds = (argv or sys.argv[1:])[:2]
    started = time.time()
    first = int(started * RATE) + 1
    last = int((started + float(seconds)) * RATE)
    claimed: list[int] = []
    unasked: list[int] = []
    for tick in range(first, last + 1):
        due = tick / RATE
        if due > time.time():
            time.sleep(due - time.time())
        while True:
            try:
                if state.claim(name, datetime.fromtimestamp(due, UTC)):
                    claimed.append(tick)
                break
            except redis.RedisError:
                if time.time() - due > GRACE:
                    unasked.append(tick)
                    break
                time.sleep(0.05)
    print(json.dumps({"first": first, "last": last, "claimed": claimed, "unasked": unasked}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
