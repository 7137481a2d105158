"""The embedded default's in-process broker does the queue operations too (no server needed)."""

from __future__ import annotations

from dramatiq import Message

from brokers.memory import MemoryBroker
from brokers.operations import QueueDepths


def _message(queue: str, n: int) -> Message:  # type: ignore[type-arg]
    return Message(queue_name=queue, actor_name="probe", args=(), kwargs={"n": n}, options={})


def test_drain_empties_the_queue_and_its_delay_queue_and_names_the_jobs():
    # Given two waiting and one delayed message
    broker = MemoryBroker(middleware=[])
    broker.declare_queue("q")
    waiting = [broker.enqueue(_message("q", n)).message_id for n in range(2)]
    delayed = broker.enqueue(_message("q", 2), delay=60_000).message_id
    assert broker.queue_depths(["q"]) == {"q": QueueDepths(depth=2, delayed=1, dead=0)}
    # When it is drained
    drained = broker.drain_queue("q")
    # Then every job is named and the queues are empty
    assert sorted(drained.removed_ids) == sorted([*waiting, delayed]) and drained.removed_count == 3
    assert broker.queue_depths(["q"]) == {"q": QueueDepths()}


def test_dead_letters_are_listed_newest_first_requeued_out_and_purged_in_one_call():
    # Given three dead letters
    broker = MemoryBroker(middleware=[])
    broker.declare_queue("q")
    consumer = broker.consume("q", prefetch=3, timeout=100)
    ids = [broker.enqueue(_message("q", n)).message_id for n in range(3)]
    for _ in ids:
        consumer.nack(next(consumer))
    assert [letter.ref for letter in broker.list_dead_letters("q")] == list(reversed(ids))
    # When one is requeued
    letter = broker.find_dead_letter("q", ids[0])
    assert letter is not None
    broker.requeue_dead_letter("q", letter, _message("q", 9))
    # Then it leaves the dead letters and a new message waits
    assert broker.queue_depths(["q"])["q"] == QueueDepths(depth=1, delayed=0, dead=2)
    # and one purge empties the rest
    count, purged = broker.purge_dead_letters("q")
    assert count == 2 and sorted(letter.ref for letter in purged) == sorted(ids[1:])
    assert broker.list_dead_letters("q") == []


def test_it_lists_no_messages_of_dead_workers_and_says_why():
    # Given the in-process broker with a waiting message
    broker = MemoryBroker(middleware=[])
    broker.declare_queue("q")
    broker.enqueue(_message("q", 1))
    # When it is asked for, and to give back, the messages of dead workers
    listed, requeued = broker.orphaned_messages(), broker.requeue_orphans()
    # Then there are none (its workers die with the process), and it says so
    assert listed.messages == [] and requeued.requeued == 0
    assert listed.note is not None and "process" in listed.note
    assert broker.queue_depths(["q"])["q"].depth == 1
