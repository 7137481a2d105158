"""The behaviour tables: `any_broker` runs a test on Redis and again on RabbitMQ.

On RabbitMQ the actors of this process are moved to a RabbitMQ broker built with the same
middleware (`wiring.broker.build_middleware`), `actors.broker` points at it for the services,
and worker processes get `BROKER_URL` through `case.env`; everything is put back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support import rabbitmq


@dataclass
class BrokerCase:
    name: str
    broker: Any
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[str]:
    vhost = rabbitmq.make_vhost()
    yield vhost
    rabbitmq.drop_vhost(vhost)


@pytest.fixture(params=["redis", "rabbitmq"])
def any_broker(request: pytest.FixtureRequest) -> Iterator[BrokerCase]:
    import dramatiq

    import actors
    from brokers.rabbitmq import RabbitmqOperationsBroker
    from settings import get_settings
    from wiring.broker import build_middleware

    if request.param == "redis":
        yield BrokerCase("redis", actors.broker)
        return
    vhost = request.getfixturevalue("rabbitmq_vhost")
    url = rabbitmq.url(vhost)
    original = actors.broker
    queues = sorted(original.get_declared_queues())
    rabbitmq.delete_queues(vhost, queues)
    broker = RabbitmqOperationsBroker(url=url, middleware=build_middleware(get_settings()))
    moved = [original.get_actor(name) for name in original.get_declared_actors()]
    for actor in moved:
        actor.broker = broker
        broker.declare_actor(actor)
    actors.broker = broker
    dramatiq.set_broker(broker)
    try:
        yield BrokerCase("rabbitmq", broker, {"BROKER_URL": url})
    finally:
        for actor in moved:
            actor.broker = original
        actors.broker = original
        dramatiq.set_broker(original)
        broker.close()
        rabbitmq.delete_queues(vhost, queues)
