"""RabbitMQ for the behaviour tables: a throw-away virtual host per test session.

The vhost is made with `rabbitmqctl` (the server on this machine has no management API);
where `rabbitmqctl` is not allowed, the default vhost is used and every test deletes the
queues it uses before and after it runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterable

import pika
import pika.exceptions

HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1:5672")
CREDENTIALS = "guest:guest"


def _ctl(*args: str) -> bool:
    program = shutil.which("rabbitmqctl")
    if program is None:
        return False
    done = subprocess.run([program, *args], capture_output=True, timeout=60, check=False)
    return done.returncode == 0


def url(vhost: str) -> str:
    path = "%2F" if vhost == "/" else vhost
    return f"amqp://{CREDENTIALS}@{HOST}/{path}"


def make_vhost() -> str:
    """A fresh vhost for this session ("/" when none can be made); fails when RabbitMQ is not there."""
    name = f"adjobs-tests-{uuid.uuid4().hex[:10]}"
    vhost = name if _ctl("add_vhost", name) and _ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*") else "/"
    try:
        pika.BlockingConnection(pika.URLParameters(url(vhost))).close()
    except pika.exceptions.AMQPError as error:
        raise RuntimeError(f"RabbitMQ is not reachable at {HOST} as guest ({error!r}): start rabbitmq-server") from None
    return vhost


def drop_vhost(vhost: str) -> None:
    if vhost != "/":
        _ctl("delete_vhost", vhost)


def delete_queues(vhost: str, queues: Iterable[str]) -> None:
    """Delete each queue with its delay and dead-letter queues (a missing one is fine)."""
    connection = pika.BlockingConnection(pika.URLParameters(url(vhost)))
    try:
        for queue in queues:
            for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
                channel = connection.channel()
                try:
                    channel.queue_delete(name)
                    channel.close()
                except pika.exceptions.ChannelClosed:
                    pass
    finally:
        connection.close()
