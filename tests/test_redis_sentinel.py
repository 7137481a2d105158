"""Redis behind Sentinels: clients follow a failover with no restart; enqueues can wait for a replica.

Each test starts its own primary, replica and three Sentinels on free ports (`SentinelGroup`),
kills or pauses them, and points the project at them through REDIS_SENTINELS.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis

from core import redis_client
from settings import Settings, get_settings, load_settings, use_settings
from tests.support.processes import BIN, ROOT, dramatiq_command
from tests.support.redis_sentinels import SentinelGroup, sentinel_group
from wiring.broker import build_broker

pytestmark = pytest.mark.timeout(180)

AGGREGATION = '{"startDate": "2026-11-21", "endDate": "2026-11-21", "granularity": "day"}'


@pytest.fixture
def group() -> Iterator[SentinelGroup]:
    with sentinel_group() as started:
        yield started


def sentinel_settings(group: SentinelGroup, **overrides: Any) -> Settings:
    env = group.settings_env()
    return load_settings(
        redis_url=env["REDIS_URL"],
        redis_sentinels=env["REDIS_SENTINELS"],
        redis_sentinel_master=env["REDIS_SENTINEL_MASTER"],
        **overrides,
    )


@pytest.fixture
def on_sentinels(group: SentinelGroup) -> Iterator[SentinelGroup]:
    """The process's settings point at the group (REDIS_SENTINELS) during the test."""
    previous = get_settings()
    use_settings(sentinel_settings(group))
    redis_client.forget()
    try:
        yield group
    finally:
        use_settings(previous)
        redis_client.forget()


def retrying(action, timeout: float = 30) -> Any:  # type: ignore[no-untyped-def]
    """`action()`, tried again while Redis is away (the failover window); its result."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_client_follows_the_primary_to_the_promoted_replica_without_being_made_again(on_sentinels):
    # Given a client made through the Sentinels, holding a key the replica has too
    group = on_sentinels
    client = redis_client.connect(get_settings().effective_redis_url, socket_timeout=2)
    client.set("before", "1")
    assert client.wait(1, 2000) == 1
    first = int(client.info("server")["tcp_port"])
    # When the primary is killed and the Sentinels promote the replica
    old = group.kill_primary()
    new = group.wait_for_failover(old)
    # Then the same client writes to the new primary, and the key written before is there
    retrying(lambda: client.set("after", "2"))
    assert first == old and new != old
    assert int(client.info("server")["tcp_port"]) == new
    assert client.get("before") == b"1" and client.get("after") == b"2"
    # And the project's own client (flags, schedules, health) is on the new primary too
    assert int(retrying(lambda: redis_client.client().info("server"))["tcp_port"]) == new


def test_a_broker_built_from_settings_keeps_sending_and_running_jobs_across_a_failover(on_sentinels):
    # Given the broker `wiring.broker` builds from settings naming the Sentinels, and a worker on it
    group = on_sentinels
    broker = build_broker(get_settings())
    ran: list[str] = []
    lock = threading.Lock()

    def note(label: str) -> None:
        with lock:
            ran.append(label)

    actor = dramatiq.actor(note, broker=broker, queue_name="sentinel-failover", actor_name="sentinel_note")
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        actor.send("before")
        group.wait_until(lambda: "before" in ran, 30, "the job sent before the failover")
        # When the primary is killed, a replica promoted, and a job sent (retried while no primary is named)
        old = group.kill_primary()
        group.wait_for_failover(old)
        retrying(lambda: actor.send("after"))
        # Then the same worker, never restarted, runs it: the broker reconnected to the new primary
        group.wait_until(lambda: "after" in ran, 60, "the job sent after the failover")
        assert int(broker.client.info("server")["tcp_port"]) == group.primary() != old
    finally:
        worker.stop()
        broker.close()


def test_with_enqueue_replicas_a_send_waits_for_a_replica_and_warns_when_none_answers(group, caplog):
    # Given a broker whose enqueues wait for 1 replica at most 300 ms (REDIS_ENQUEUE_REPLICAS, REDIS_ENQUEUE_WAIT_MS)
    previous = get_settings()
    use_settings(sentinel_settings(group, redis_enqueue_replicas=1, redis_enqueue_wait_ms=300))
    broker = build_broker(get_settings())
    actor = dramatiq.actor(lambda n: None, broker=broker, queue_name="sentinel-wait", actor_name="sentinel_wait")
    try:
        script = broker.scripts["dispatch"]
        # When a job is sent with the replica answering: it returns at once, acknowledged
        actor.send(1)
        assert script.short == 0
        # When the replica is stopped (SIGSTOP) and another job is sent
        replica = next(port for port in group.data_ports if port != group.primary())
        group.pause(replica)
        try:
            with caplog.at_level(logging.WARNING, logger="brokers.replica_wait"):
                started = time.monotonic()
                actor.send(2)
                waited = time.monotonic() - started
        finally:
            group.resume(replica)
        # Then it waited the whole 300 ms, was sent all the same, and says a failover now could lose it
        assert waited >= 0.3 and script.short == 1, waited
        assert "acknowledged by 0 of 1 Redis replicas" in caplog.text
        assert broker.client.hlen("dramatiq:sentinel-wait.msgs") == 2
    finally:
        broker.close()
        use_settings(previous)
        redis_client.forget()


# Set-up mistakes: one line, exit 4 ------------------------------------------------------------


def run(command: list[str], env: dict[str, str]) -> Any:
    import subprocess

    return subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False
    )


def error_line(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def test_sentinels_that_do_not_answer_are_one_line_and_exit_4_for_jobsctl_and_the_worker():
    # Given REDIS_SENTINELS naming ports where nothing listens
    env = {"REDIS_SENTINELS": "127.0.0.1:1,127.0.0.1:2", "REDIS_SENTINEL_MASTER": "adjobs"}
    # When a job is sent and a worker starts
    send = run([str(BIN / "jobsctl"), "send", "aggregate_analytics", "--data", AGGREGATION], env)
    worker = run(dramatiq_command(processes=1, threads=1), env)
    # Then each says, in one line, that no Sentinel answers, naming them, and exits 4
    for result in (send, worker):
        assert result.returncode == 4, result.stderr[-3000:]
        line = error_line(result)
        assert "cannot reach any Redis Sentinel of REDIS_SENTINELS (127.0.0.1:1, 127.0.0.1:2)" in line, line


def test_an_unknown_master_name_is_one_line_naming_the_known_ones_and_exit_4(group):
    # Given Sentinels that answer, and REDIS_SENTINEL_MASTER misspelled
    env = {**group.settings_env(), "REDIS_SENTINEL_MASTER": "adjobs-tset"}
    # When a job is sent and a worker starts
    send = run([str(BIN / "jobsctl"), "send", "aggregate_analytics", "--data", AGGREGATION], env)
    worker = run(dramatiq_command(processes=1, threads=1), env)
    # Then each names the name asked for and the ones the Sentinels know, in one line, exit 4
    for result in (send, worker):
        assert result.returncode == 4, result.stderr[-3000:]
        line = error_line(result)
        assert "monitor no primary named 'adjobs-tset' (REDIS_SENTINEL_MASTER)" in line, line
        assert "they monitor: 'adjobs-test'" in line, line


def test_sentinels_that_see_the_primary_down_are_one_line_for_the_worker_exit_3_and_jobsctl_exit_4(group):
    # Given Sentinels that know the primary, whose primary and replica are both gone (no failover possible)
    for port in group.data_ports:
        group.processes[port].kill()
        group.processes[port].wait()

    def seen_down() -> bool:
        client = redis.Redis(port=group.sentinel_ports[0], socket_timeout=1)
        try:
            return bool(client.sentinel_master(group.name)["is_sdown"])
        finally:
            client.close()

    group.wait_until(seen_down, 30, "the Sentinels to see the primary down")
    env = group.settings_env()
    # When a worker starts and a job is sent
    worker = run(dramatiq_command(processes=1, threads=1), env)
    send = run([str(BIN / "jobsctl"), "send", "aggregate_analytics", "--data", AGGREGATION], env)
    # Then the worker says in one line that no primary answers, naming the name, and exits 3 (the broker's code)
    assert worker.returncode == 3, worker.stderr[-3000:]
    line = error_line(worker)
    assert f"no Redis primary named {group.name!r} answers" in line, line
    # And jobsctl says Redis cannot be reached, in one line, exit 4
    assert send.returncode == 4, send.stderr[-3000:]
    assert "cannot be reached" in error_line(send)


def test_with_enqueue_replicas_moves_of_held_messages_do_not_wait_and_the_warning_is_not_repeated(group, caplog):
    # Given a broker whose sends wait for 1 replica at most 300 ms, and a job sent while the replica answers
    previous = get_settings()
    use_settings(sentinel_settings(group, redis_enqueue_replicas=1, redis_enqueue_wait_ms=300))
    broker = build_broker(get_settings())
    actor = dramatiq.actor(lambda n: None, broker=broker, queue_name="sentinel-move", actor_name="sentinel_move")
    try:
        script = broker.scripts["dispatch"]
        sent = actor.send(1)
        replica = next(port for port in group.data_ports if port != group.primary())
        group.pause(replica)
        try:
            # When that message is enqueued again as the broker moves it (a retry, a due delayed message, a hold)
            started = time.monotonic()
            for _ in range(3):
                broker.enqueue(sent)
            moved_in = time.monotonic() - started
            # and three new jobs are sent
            with caplog.at_level(logging.WARNING, logger="brokers.replica_wait"):
                for n in range(3):
                    actor.send(n)
        finally:
            group.resume(replica)
        # Then the moves did not wait for the absent replica; each new send did, and was counted
        assert moved_in < 0.3, moved_in
        assert script.short == 3
        # And the warning was logged once, not once per send
        warnings = [record for record in caplog.records if "Redis replicas" in record.getMessage()]
        assert len(warnings) == 1, [record.getMessage() for record in warnings]
    finally:
        broker.close()
        use_settings(previous)
        redis_client.forget()
