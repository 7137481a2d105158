"""A service of its own that sends ledger entries with `send()`, as the fault tests' producer.

    python -m tests.chaos.producer RUN COUNT [--rate N] [--delayed-every K] [--work-ms MS]

Like a real service it keeps going when the broker is away: a `send()` that raises is tried
again (a new message for the same entry; the entry's idempotency key makes a duplicate
harmless). It prints one JSON line: entries sent, sends that had to be retried, seconds taken.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("count", type=int)
    parser.add_argument("--rate", type=float, default=0.0, help="entries per second (0: as fast as it can)")
    parser.add_argument("--delayed-every", type=int, default=0, help="every k-th entry is delayed")
    parser.add_argument("--delay-ms", type=int, default=3000)
    parser.add_argument("--work-ms", type=int, default=0)
    args = parser.parse_args(argv)

    from tests.chaos.ledger_jobs import apply_entry

    retried = 0
    delayed = 0
    started = time.monotonic()
    for n in range(args.count):
        if args.rate:
            wait = started + n / args.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        delay = args.delay_ms if args.delayed_every and n % args.delayed_every == 0 else None
        while True:
            try:
                apply_entry.send_with_options(kwargs={"run": args.run, "n": n, "work_ms": args.work_ms}, delay=delay)
                break
            except Exception as error:  # the broker is away: try the same entry again
                retried += 1
                if retried % 20 == 1:
                    print(f"send of entry {n} failed, retrying: {error}", file=sys.stderr, flush=True)
                time.sleep(0.2)
        delayed += delay is not None
    print(
        json.dumps(
            {
                "sent": args.count,
                "delayed": delayed,
                "send_retries": retried,
                "seconds": round(time.monotonic() - started, 2),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
