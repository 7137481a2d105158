"""The behaviour tables: `any_broker` runs a test on Redis and again on RabbitMQ.

On RabbitMQ the actors of this process are moved to a RabbitMQ broker built with the same
middleware (`wiring.broker.build_middleware`), made the process's broker (`use_broker`) for
the services, and worker processes get `BROKER_URL` through `case.env`; everything is put
back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from brokers.rabbitmq import RabbitmqOperationsBroker
from settings import get_settings
from tests.support import rabbitmq
from wiring.broker import build_middleware, get_broker, use_broker


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
    if request.param == "redis":
        yield BrokerCase("redis", get_broker())
        return
    vhost = request.getfixturevalue("rabbitmq_vhost")
    url = rabbitmq.url(vhost)
    queues = sorted(get_broker().get_declared_queues())
    rabbitmq.delete_queues(vhost, queues)
    broker = RabbitmqOperationsBroker(url=url, middleware=build_middleware(get_settings()))
    original = use_broker(broker)
    try:
        yield BrokerCase("rabbitmq", broker, {"BROKER_URL": url})
    finally:
        if original is not None:
            use_broker(original)
        broker.close()
        rabbitmq.delete_queues(vhost, queues)
