"""REDIS_SENTINELS: the `host:port,host:port` list of Redis Sentinels, read into address pairs.

With REDIS_SENTINELS and REDIS_SENTINEL_MASTER set, every Redis client of the project asks the
Sentinels for the primary of that name (`core.redis_sentinel`); REDIS_URL then gives only the
database number and the password. A malformed entry is refused here, naming the variable.
"""

from __future__ import annotations

#: Sentinel's own default port, for an entry given as a bare host.
SENTINEL_PORT = 26379


def parse_sentinels(value: object) -> list[tuple[str, int]]:
    """`"a:26379, b:26380"` (or a list of entries) as `[("a", 26379), ("b", 26380)]`; ValueError naming a bad one."""
    if value is None:
        return []
    entries = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    found: list[tuple[str, int]] = []
    for entry in entries:
        if isinstance(entry, tuple | list) and len(entry) == 2:
            host, port_text = str(entry[0]), str(entry[1])
        else:
            text = str(entry).strip()
            if not text:
                continue
            host, colon, port_text = text.rpartition(":")
            if not colon:
                host, port_text = text, str(SENTINEL_PORT)
        host = host.strip().removeprefix("[").removesuffix("]")
        if not host or not port_text.strip().isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"expected host:port entries separated by commas, got {str(entry).strip()!r}")
        found.append((host, int(port_text)))
    return found


def describe_sentinels(sentinels: list[tuple[str, int]]) -> str:
    """The list as written in REDIS_SENTINELS: `a:26379, b:26380`."""
    return ", ".join(f"{host}:{port}" for host, port in sentinels)
