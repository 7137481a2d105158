"""Messages encoded as JSON by orjson: the same JSON Dramatiq writes, at a fraction of the cost.

Every message is encoded once by its producer and decoded once by its worker (and results
once each way). Dramatiq's `JSONEncoder` goes through the standard library; orjson writes and
reads the same JSON several times faster, which shows in `send_many()` and in a busy worker's
CPU (BENCHMARKS.md). Both read each other's output: a message from a service that uses plain
Dramatiq decodes here, and ours decode there. Where the two differ, the standard library is
the fallback: values orjson does not write (integers beyond 64 bits) and the `NaN` and
`Infinity` tokens the standard library writes but orjson does not read. What neither reads
raises Dramatiq's `DecodeError`, as before.
"""

from __future__ import annotations

from typing import Any

import orjson
from dramatiq.encoder import Encoder, JSONEncoder

_OPTIONS = orjson.OPT_NON_STR_KEYS  # {1: ...} becomes {"1": ...}, as json.dumps does


class FastJSONEncoder(Encoder):
    def __init__(self) -> None:
        self._standard = JSONEncoder()

    def encode(self, data: Any) -> bytes:
        try:
            return orjson.dumps(data, option=_OPTIONS)
        except TypeError:
            return self._standard.encode(data)

    def decode(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return self._standard.decode(data)
