"""Our orjson encoder gives the values Dramatiq's JSONEncoder gives, or refuses what it refuses, naming the field."""

from __future__ import annotations

import dataclasses
import enum
import re
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from dramatiq.encoder import JSONEncoder

from brokers.encoding import FastJSONEncoder, UnencodableValue


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int


#: Values Dramatiq's encoder writes: ours must give the same values back.
WRITTEN = [
    float("nan"),
    float("inf"),
    float("-inf"),
    2**63 - 1,
    2**64,
    2**70,
    -(2**63) - 1,
    1e16,
    0.1,
    "café ✓",
    "\ud800",
    {1: "one", None: "none"},
    (1, 2),
    Level.HIGH,
    {"a": [1, {"b": [float("inf"), float("nan"), 2**70]}]},
]
#: Values Dramatiq's encoder refuses, with the path and the type ours must name.
REFUSED: list[tuple[Any, str, str]] = [
    (datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "kwargs.value", "datetime"),
    (date(2026, 1, 2), "kwargs.value", "date"),
    (time(3, 4), "kwargs.value", "time"),
    (Decimal("1.5"), "kwargs.value", "Decimal"),
    (b"bytes", "kwargs.value", "bytes"),
    (uuid.UUID(int=1), "kwargs.value", "UUID"),
    (Colour.RED, "kwargs.value", "Colour"),
    (Point(1), "kwargs.value", "Point"),
    ({"a": [1, {"b": [float("nan"), date(2026, 1, 2)]}]}, "kwargs.value.a[1].b[1]", "date"),
]


def _message(value: Any) -> dict[str, Any]:
    return {"actor_name": "takes_anything", "args": [], "kwargs": {"value": value}, "options": {}}


def test_values_dramatiqs_encoder_writes_come_back_the_same_from_ours():
    ours, standard = FastJSONEncoder(), JSONEncoder()
    differences = []
    for value in WRITTEN:
        # Given a message Dramatiq's own encoder writes
        expected = repr(standard.decode(standard.encode(_message(value))))
        # When ours writes it, or reads what either writes
        for writer, reader in ((ours, standard), (ours, ours), (standard, ours)):
            read = reader.decode(writer.encode(_message(value)))
            # Then the values are Dramatiq's (NaN and infinities kept, not null; big integers not floats)
            if repr(read) != expected:
                differences.append((value, f"{type(writer).__name__} -> {type(reader).__name__}", read))
    assert differences == []


def test_values_dramatiqs_encoder_refuses_are_refused_by_ours_naming_the_field():
    standard = JSONEncoder()
    for value, where, kind in REFUSED:
        # Given a value Dramatiq's own encoder refuses
        with pytest.raises(TypeError):
            standard.encode(_message(value))
        # When ours encodes it, then it refuses it too, naming the field and the type
        with pytest.raises(UnencodableValue, match=f"^{re.escape(where)}: a {kind} ") as refused:
            FastJSONEncoder().encode(_message(value))
        assert refused.value.where == where
        assert "cannot be sent as JSON" in str(refused.value)
