"""RABBITMQ_QUEUE_TYPE=quorum on the real RabbitMQ: queues, delays, dead letters and the job store.

Each session uses a virtual host of its own (`tests.support.rabbitmq`). RabbitMQ 3.x quorum
queues have no `x-max-priority`: the last test shows what priority does there (nothing inside
RabbitMQ: the queue hands messages out in arrival order) beside a classic queue (most urgent
first).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import dramatiq
import pika
import pytest
from dramatiq import Message

from brokers.rabbitmq import QueueTypeMismatch, RabbitmqOperationsBroker
from core.payloads import Priority
from settings import QUEUE_NAMES, get_settings, load_settings
from tests.support import rabbitmq, store
from tests.support.processes import ROOT, dramatiq_command
from tests.support.sample_actors import echo, refuses
from wiring.broker import build_broker, build_middleware, use_broker

QUEUE = "test-jobs"


@pytest.fixture(scope="module")
def vhost() -> Iterator[str]:
    made = rabbitmq.make_vhost()
    yield made
    rabbitmq.drop_vhost(made)


@pytest.fixture
def quorum_broker(vhost: str) -> Iterator[RabbitmqOperationsBroker]:
    """A quorum-queue broker with the real middleware, made the process's broker (the sample actors move onto it)."""
    rabbitmq.delete_queues(vhost, [QUEUE])
    broker = RabbitmqOperationsBroker(
        url=rabbitmq.url(vhost), middleware=build_middleware(get_settings()), queue_type="quorum"
    )
    original = use_broker(broker)
    try:
        yield broker
    finally:
        if original is not None:
            use_broker(original)
        broker.close()
        rabbitmq.delete_queues(vhost, [QUEUE])


@pytest.fixture
def quorum_worker(quorum_broker: RabbitmqOperationsBroker) -> Iterator[dramatiq.Worker]:
    worker = dramatiq.Worker(quorum_broker, worker_threads=2, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


def queue_types(vhost: str) -> dict[str, tuple[str, str]]:
    """Every queue of the vhost: (type, durable), as `rabbitmqctl list_queues` reports them."""
    program = shutil.which("rabbitmqctl")
    if program is None or vhost == "/":
        pytest.skip("rabbitmqctl is not usable here: the queue type cannot be read")
    done = subprocess.run(
        [program, "list_queues", "-p", vhost, "--no-table-headers", "--quiet", "name", "type", "durable"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            found[parts[0]] = (parts[1], parts[2])
    return found


def test_the_settings_select_quorum_queues_for_the_broker_wiring_builds(vhost):
    # Given BROKER_URL on RabbitMQ and RABBITMQ_QUEUE_TYPE=quorum
    settings = load_settings(broker_url=rabbitmq.url(vhost), rabbitmq_queue_type="quorum")
    # When the process's broker is built from them
    broker = build_broker(settings)
    try:
        # Then it declares quorum queues, with publisher confirms (a send returns once a majority holds it)
        assert isinstance(broker, RabbitmqOperationsBroker)
        assert broker.queue_type == "quorum" and broker.confirm_delivery and broker.max_priority is None
    finally:
        broker.close()


def test_the_queue_its_delay_queue_and_its_dead_letters_are_durable_quorum_queues(quorum_broker, vhost):
    # Given the quorum broker
    # When a job and a delayed job are sent (which declares the queues)
    echo.send(value=1)
    echo.send_with_options(kwargs={"value": 2}, delay=60_000)
    # Then the queue, its `.DQ` and its `.XQ` are quorum queues, durable
    types = queue_types(vhost)
    for name in (QUEUE, f"{QUEUE}.DQ", f"{QUEUE}.XQ"):
        assert types.get(name) == ("quorum", "true"), types


def test_on_quorum_queues_jobs_run_delayed_ones_wait_and_refused_ones_are_dead_lettered(quorum_broker, quorum_worker):
    # Given a worker on quorum queues
    # When a job, a job delayed 1.5 s and a job that refuses are sent
    sent_at = time.monotonic()
    plain = echo.send(value=1)
    delayed = echo.send_with_options(kwargs={"value": 2}, delay=1_500)
    refused = refuses.send(key="quorum")
    # Then the first completes, the delayed one completes no sooner than its delay, and the
    # refused one is dead: in the store and in the `.XQ` queue
    assert store.wait_for_state(plain.message_id, "completed")["state"] == "completed"
    store.wait_for_state(delayed.message_id, "completed")
    assert time.monotonic() - sent_at >= 1.5
    assert store.wait_for_state(refused.message_id, "dead")["state"] == "dead"
    # (the worker records `dead` before its consumer thread sends the reject that dead-letters the message:
    # on a loaded machine that reject and RabbitMQ's move to `.XQ` can take several seconds)
    deadline = time.monotonic() + 60
    while not quorum_broker.find_dead_letter(QUEUE, refused.message_id):
        assert time.monotonic() < deadline, "the refused job never reached the dead-letter queue"
        time.sleep(0.2)


def enqueue_in_order(broker: RabbitmqOperationsBroker, queue: str, priorities: list[int]) -> None:
    broker.declare_queue(queue, ensure=True)
    for n, priority in enumerate(priorities):
        message: Message[Any] = Message(
            queue_name=queue, actor_name="echo", args=(), kwargs={"value": n}, options={"priority": priority}
        )
        broker.enqueue(message)


def handed_out(vhost: str, queue: str) -> list[int]:
    """The `value` of each message in the order RabbitMQ hands them out (taken with basic.get)."""
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq.url(vhost)))
    order: list[int] = []
    try:
        channel = connection.channel()
        while True:
            method, _properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return order
            order.append(Message.decode(body).kwargs["value"])
    finally:
        connection.close()


def test_a_quorum_queue_hands_out_in_arrival_order_where_a_classic_one_hands_out_the_most_urgent_first(vhost):
    # Given three LOW jobs then one CRITICAL job waiting, on a quorum queue and on a classic queue
    queues = ["quorum-order", "classic-order"]
    rabbitmq.delete_queues(vhost, queues)
    quorum = RabbitmqOperationsBroker(url=rabbitmq.url(vhost), middleware=[], queue_type="quorum")
    classic = RabbitmqOperationsBroker(url=rabbitmq.url(vhost), middleware=[])
    try:
        enqueue_in_order(quorum, "quorum-order", [Priority.LOW, Priority.LOW, Priority.LOW, Priority.CRITICAL])
        enqueue_in_order(classic, "classic-order", [Priority.LOW, Priority.LOW, Priority.LOW, Priority.CRITICAL])
        # When each queue is read
        # Then the quorum queue hands them out as they came (no x-max-priority on RabbitMQ 3.x quorum
        # queues), the classic one the CRITICAL job first
        assert handed_out(vhost, "quorum-order") == [0, 1, 2, 3]
        assert handed_out(vhost, "classic-order") == [3, 0, 1, 2]
    finally:
        quorum.close()
        classic.close()
        rabbitmq.delete_queues(vhost, queues)


# A queue of the other type: one line naming RABBITMQ_QUEUE_TYPE --------------------------------


def test_declaring_over_a_queue_of_the_other_type_names_rabbitmq_queue_type_and_what_to_do(vhost):
    # Given a queue made classic (an earlier deployment, or a process without RABBITMQ_QUEUE_TYPE=quorum)
    rabbitmq.delete_queues(vhost, [QUEUE])
    classic = RabbitmqOperationsBroker(url=rabbitmq.url(vhost), middleware=[])
    quorum = RabbitmqOperationsBroker(url=rabbitmq.url(vhost), middleware=[], queue_type="quorum")
    try:
        classic.ensure_queues([QUEUE])
        # When a quorum broker declares it, as a send or a worker's consumer does
        with pytest.raises(QueueTypeMismatch) as raised:
            quorum.ensure_queues([QUEUE])
        # Then the error is one line naming the setting and what to do, not a closed connection retried forever
        message = str(raised.value)
        assert "\n" not in message
        assert f"RabbitMQ refuses queue {QUEUE!r} as RABBITMQ_QUEUE_TYPE=quorum declares it" in message
        assert "set RABBITMQ_QUEUE_TYPE=classic" in message and f"drain and delete {QUEUE}, {QUEUE}.DQ" in message
        # And a send meets the same error (jobsctl: exit 4; the API: 503)
        quorum.declare_queue(QUEUE)
        with pytest.raises(QueueTypeMismatch):
            quorum.enqueue(Message(queue_name=QUEUE, actor_name="echo", args=(), kwargs={}, options={}))
        assert raised.value.exit_code == 4 and raised.value.http_status == 503
    finally:
        classic.close()
        quorum.close()
        rabbitmq.delete_queues(vhost, [QUEUE])


def test_a_worker_started_over_queues_of_the_other_type_exits_3_with_one_line(vhost):
    # Given the platform's first queue made classic on this RabbitMQ
    queue = QUEUE_NAMES[0]
    rabbitmq.delete_queues(vhost, [queue])
    classic = RabbitmqOperationsBroker(url=rabbitmq.url(vhost), middleware=[])
    try:
        classic.ensure_queues([queue])
        # When a worker starts with RABBITMQ_QUEUE_TYPE=quorum
        env = {"BROKER_URL": rabbitmq.url(vhost), "RABBITMQ_QUEUE_TYPE": "quorum", "COLUMNS": "200"}
        started = subprocess.run(
            dramatiq_command(processes=1, threads=1), cwd=ROOT, env={**os.environ, **env},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        classic.close()
        rabbitmq.delete_queues(vhost, [queue])
    # Then it exits 3 (the broker's code) with one line naming the queue and RABBITMQ_QUEUE_TYPE, no traceback
    errors = [line for line in started.stderr.splitlines() if line.startswith("error: ")]
    assert started.returncode == 3, started.stderr[-3000:]
    assert "Traceback" not in started.stderr, started.stderr[-3000:]
    assert len(errors) == 1 and f"RabbitMQ refuses queue {queue!r} as RABBITMQ_QUEUE_TYPE=quorum" in errors[0], errors
