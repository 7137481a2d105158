"""`send()` refuses a value JSON cannot carry, as Dramatiq's encoder would, naming the field; nothing is enqueued."""

from __future__ import annotations

from datetime import UTC, datetime

import dramatiq
import pytest

from brokers.encoding import UnencodableValue
from wiring.broker import get_broker


# The process's broker: making it sets our encoder.
@dramatiq.actor(queue_name="test-jobs", broker=get_broker())
def takes_anything(**kwargs: object) -> None:
    """A plain Dramatiq actor: no payload model stands between `send()` and the encoder."""


def test_send_refuses_a_datetime_naming_the_field_and_enqueues_nothing(redis_client):
    # When a plain actor is sent a datetime, which Dramatiq's encoder refuses and orjson would write as text
    with pytest.raises(UnencodableValue, match=r"^kwargs\.when: a datetime cannot be sent as JSON"):
        takes_anything.send(label="report", when=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    # Then nothing reaches Redis
    assert redis_client.keys("dramatiq:*") == []
