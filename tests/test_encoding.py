"""Messages encoded by orjson (`brokers/encoding.py`) read and written like Dramatiq's own JSON."""

from __future__ import annotations

import math

import dramatiq
import pytest
from dramatiq.encoder import JSONEncoder
from dramatiq.errors import DecodeError

from brokers.encoding import FastJSONEncoder

MESSAGE = {
    "queue_name": "analytics-aggregation",
    "actor_name": "aggregate_analytics",
    "args": [],
    "kwargs": {"publisher_id": "pub-001", "granularity": "day", "note": "café ✓"},
    "options": {"priority": 1, "redis_message_id": "5f0c…"},
    "message_id": "5f0c9d1e-2f4b-4a7e-9c55-0d3f3b1a2c11",
    "message_timestamp": 1_795_660_000_000,
}


def test_the_broker_encodes_with_it():
    from wiring.broker import get_broker

    get_broker()  # making the process's broker sets the encoder

    assert isinstance(dramatiq.get_encoder(), FastJSONEncoder)


def test_each_reads_what_the_other_writes():
    ours, standard = FastJSONEncoder(), JSONEncoder()
    assert standard.decode(ours.encode(MESSAGE)) == MESSAGE
    assert ours.decode(standard.encode(MESSAGE)) == MESSAGE


def test_what_orjson_does_not_take_goes_through_the_standard_library():
    ours = FastJSONEncoder()
    big = {"kwargs": {"n": 2**70}, "by_id": {1: "one"}}
    assert ours.decode(ours.encode(big)) == {"kwargs": {"n": 2**70}, "by_id": {"1": "one"}}
    from_plain_dramatiq = JSONEncoder().encode({"ratio": float("nan")})  # b'{"ratio":NaN}'
    assert math.isnan(ours.decode(from_plain_dramatiq)["ratio"])


@pytest.mark.parametrize("data", [b"not json", b"\xff\xfe", b'{"unterminated": '])
def test_bytes_neither_reads_raise_dramatiqs_decode_error(data):
    with pytest.raises(DecodeError):
        FastJSONEncoder().decode(data)
