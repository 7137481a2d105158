"""Messages encoded as JSON by orjson: the same JSON Dramatiq writes, at a fraction of the cost.

Every message is encoded once by its producer and decoded once by its worker (and results
once each way). Dramatiq's `JSONEncoder` goes through the standard library; orjson writes and
reads the same JSON several times faster, which shows in `send_many()` and in a busy worker's
CPU (BENCHMARKS.md). Both read each other's output: a message from a service that uses plain
Dramatiq decodes here, and ours decode there.

Writing, the two agree only on plain data: strings, booleans, None, finite floats, integers
within 64 bits, lists, tuples and dicts with string keys, exact types. On anything else
orjson differs: it writes NaN and infinity as `null` and a datetime, date, time, UUID, enum or
dataclass as text, where the standard library keeps the floats (`NaN`, `Infinity`) and refuses
the others. So orjson writes only data that is plain throughout (`is_plain`, one walk over the
message); the rest goes through the standard library, which gives Dramatiq's own bytes (big
integers, non-finite floats, non-string keys, subclasses such as IntEnum) or refuses the value
as Dramatiq would, here with `UnencodableValue` naming the field ("kwargs.when: datetime ..."),
so `send()` fails before anything is enqueued.

Reading, the standard library reads what orjson does not (the `NaN` and `Infinity` tokens)
and what it reads otherwise: integers beyond 64 bits, which orjson turns into floats (any run
of 19 digits sends the message to the standard library). What neither reads raises
Dramatiq's `DecodeError`.
"""

from __future__ import annotations

from typing import Any

import orjson
from dramatiq.encoder import Encoder, JSONEncoder

from errors import InvalidInput

#: The integers orjson writes (64-bit signed and unsigned); beyond, the standard library does.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
#: Digits made NUL (which JSON text never holds raw), to find a run of 19: maybe an integer past
#: 64 bits, which orjson would read as a float, so the standard library reads that message.
_DIGITS_TO_NUL = bytes.maketrans(b"0123456789", b"\0" * 10)
_LONG_NUMBER = b"\0" * 19
#: Lists and dicts walked before data is left to the standard library (which names a cycle).
_MAX_CONTAINERS = 100_000
#: Nesting past which a refusal's path is not looked for.
_MAX_DEPTH = 100
#: Types the standard library writes (and subclasses of them); anything else it refuses.
_JSON_TYPES = (dict, list, tuple, str, int, float, bool, type(None))
_KEY_TYPES = (str, int, float, bool, type(None))


class UnencodableValue(InvalidInput, TypeError):
    """Raised when a message (or result) holds a value JSON cannot carry, which Dramatiq's encoder refuses too."""

    def __init__(self, where: str, value: Any) -> None:
        kind = type(value).__name__
        super().__init__(
            f"{where}: a {kind} cannot be sent as JSON (Dramatiq's encoder refuses it too); "
            "send a string, number, boolean, list or object instead (a date or time as its isoformat())"
        )
        self.where = where


def is_plain(data: Any) -> bool:
    """True when orjson writes `data` exactly as the standard library would (see the module's notes)."""
    stack = [data]
    containers = _MAX_CONTAINERS
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str or kind is bool or value is None:
            continue
        if kind is dict:
            containers -= 1
            if containers < 0:
                return False
            for key in value:
                if type(key) is not str:
                    return False
            stack.extend(value.values())
        elif kind is int:
            if not _INT_MIN <= value <= _INT_MAX:
                return False
        elif kind is float:
            if value - value != 0.0:  # NaN or an infinity
                return False
        elif kind is list or kind is tuple:
            containers -= 1
            if containers < 0:
                return False
            stack.extend(value)
        else:
            return False
    return True


def unencodable(value: Any, where: str = "message", depth: int = 0) -> tuple[str, Any] | None:
    """The first value in `value` the standard library refuses, as (its path, the value), or None."""
    if not isinstance(value, _JSON_TYPES):
        return where, value
    if depth >= _MAX_DEPTH:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where != "message" else str(key)
            if not isinstance(key, _KEY_TYPES):
                return f"{path} (a key)", key
            found = unencodable(item, path, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unencodable(item, f"{where}[{index}]", depth + 1)
            if found is not None:
                return found
    return None


class FastJSONEncoder(Encoder):
    def __init__(self) -> None:
        self._standard = JSONEncoder()

    def encode(self, data: Any) -> bytes:
        if is_plain(data):
            try:
                return orjson.dumps(data)
            except TypeError:  # a string orjson refuses (a lone surrogate): the standard library escapes it
                pass
        try:
            return self._standard.encode(data)
        except TypeError as error:
            found = unencodable(data)
            if found is None:
                raise
            raise UnencodableValue(*found) from error

    def decode(self, data: bytes) -> Any:
        if _LONG_NUMBER not in data.translate(_DIGITS_TO_NUL):  # orjson reads integers past 64 bits as floats
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
        return self._standard.decode(data)
