"""Container health checks: `python /app/healthcheck.py worker|beat|api [URL]`; exit 0 when healthy.

worker: this container has a worker process whose heartbeat in Redis is fresh.
beat:   the broker answers (a beat without its broker enqueues nothing).
api:    GET /health (default http://127.0.0.1:8000/health) answers 200 with a status other than `unhealthy`.
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.request


def worker(*args: str) -> bool:
    from runtime import heartbeats

    host = socket.gethostname()
    return any(entry.get("host") == host for entry in heartbeats.alive())


def beat(*args: str) -> bool:
    from settings import get_settings
    from wiring.broker import build_broker
    from wiring.service import ensure_reachable

    settings = get_settings()
    ensure_reachable(build_broker(settings), settings.effective_broker_url)  # raises when it does not answer
    return True


def api(url: str = "http://127.0.0.1:8000/health", *args: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    return response.status == 200 and body.get("status") != "unhealthy"


CHECKS = {"worker": worker, "beat": beat, "api": api}


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in CHECKS:
        print(f"usage: healthcheck.py {'|'.join(CHECKS)} [URL]", file=sys.stderr)
        return 2
    try:
        healthy = CHECKS[argv[1]](*argv[2:])
    except Exception as error:
        print(f"{argv[1]} unhealthy: {error}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"{argv[1]} unhealthy", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
