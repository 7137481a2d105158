"""The in-process broker of the embedded default: Dramatiq's `StubBroker` with the queue
operations of `brokers.operations`.

Its queues are `queue.Queue`s of encoded messages (`<q>` and `<q>.DQ`) and its dead letters
the messages nacked into `dead_letters_by_queue`; nothing outlives the process.
"""

from __future__ import annotations

import threading
from queue import Empty
from typing import Any

from dramatiq import Message
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name

from brokers.operations import (
    BrokerOperationUnsupported,
    DeadLetter,
    DeadLetterGone,
    Drained,
    Orphans,
    Promoted,
    QueueDepths,
)


class MemoryBroker(StubBroker):
    """`StubBroker` with the product's queue operations."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._letters_lock = threading.Lock()

    def enqueue_many(self, messages: list[Message[Any]]) -> list[Message[Any]]:
        return [self.enqueue(message) for message in messages]

    def ping(self) -> None:
        """Nothing to reach: it lives in this process."""

    def _unfinished(self, name: str) -> int:
        queue = self.queues.get(name)
        return int(queue.unfinished_tasks) if queue is not None else 0

    def queue_depths(self, queues: list[str]) -> dict[str, QueueDepths]:
        return {
            name: QueueDepths(
                depth=self._unfinished(name),
                delayed=self._unfinished(dq_name(name)),
                dead=len(self.dead_letters_by_queue.get(name, ())),
            )
            for name in queues
        }

    def remove_message(self, queue: str, ref: str, *, delayed: bool) -> bool:
        """False: the caller marks the job so workers skip it."""
        return False

    def drain_queue(self, queue: str, *, delayed: bool = True) -> Drained:
        drained = Drained()
        for name in (queue, dq_name(queue)) if delayed else (queue,):
            source = self.queues.get(name)
            while source is not None:
                try:
                    data = source.get_nowait()
                except Empty:
                    break
                source.task_done()
                drained.removed_ids.append(Message.decode(data).message_id)
        drained.removed_count = len(drained.removed_ids)
        return drained

    def promote_delayed(self, queue: str, refs: list[str]) -> Promoted:
        raise BrokerOperationUnsupported(
            "the in-process broker", "promote delayed jobs", "it has no broker ids; they run at their time"
        )

    def message_places(self, refs: list[tuple[str, str]]) -> list[str | None]:
        raise BrokerOperationUnsupported("the in-process broker", "say where a message is", "it has no broker ids")

    def orphaned_messages(self) -> Orphans:
        """None: its workers live in this process, and their messages go with it."""
        return Orphans(note="the in-process broker's workers die with the process and its queues")

    def requeue_orphans(self) -> Orphans:
        return self.orphaned_messages()

    # Dead letters -------------------------------------------------------------------------

    def _letter(self, proxy: Any) -> DeadLetter:
        return DeadLetter(ref=proxy.message_id, dead_at=None, body=proxy._message.encode())

    def list_dead_letters(self, queue: str, offset: int = 0, limit: int = 50) -> list[DeadLetter]:
        with self._letters_lock:
            letters = [self._letter(proxy) for proxy in reversed(self.dead_letters_by_queue.get(queue, []))]
        return letters[offset : offset + limit] if limit > 0 else []

    def oldest_dead_letters(self, queue: str, limit: int = 200) -> list[DeadLetter]:
        with self._letters_lock:
            return [self._letter(proxy) for proxy in self.dead_letters_by_queue.get(queue, [])[:limit]]

    def find_dead_letter(self, queue: str, message_id: str, ref: str | None = None) -> DeadLetter | None:
        with self._letters_lock:
            for proxy in self.dead_letters_by_queue.get(queue, []):
                if proxy.message_id == message_id:
                    return self._letter(proxy)
        return None

    def _take(self, queue: str, letter: DeadLetter) -> Any:
        with self._letters_lock:
            letters = self.dead_letters_by_queue.get(queue, [])
            for index, proxy in enumerate(letters):
                if proxy.message_id == letter.ref:
                    return letters.pop(index)
        raise DeadLetterGone(letter.ref)

    def requeue_dead_letter(self, queue: str, letter: DeadLetter, message: Message[Any]) -> Message[Any]:
        proxy = self._take(queue, letter)
        try:
            return self.enqueue(message)
        except Exception:
            with self._letters_lock:
                self.dead_letters_by_queue[queue].append(proxy)
            raise

    def discard_dead_letter(self, queue: str, letter: DeadLetter) -> None:
        self._take(queue, letter)

    def purge_dead_letters(self, queue: str) -> tuple[int, list[DeadLetter]]:
        with self._letters_lock:
            letters = [self._letter(proxy) for proxy in self.dead_letters_by_queue.get(queue, [])]
            self.dead_letters_by_queue.get(queue, []).clear()
        return len(letters), letters

    def prune_dead_letters(self, queue: str, before_ms: float) -> int:
        return 0  # they go with the process
