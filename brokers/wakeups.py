"""Wake idle consumers when a job arrives, instead of letting them sleep out their backoff.

Dramatiq's Redis consumer polls: after an empty fetch it sleeps, doubling the sleep up to
the worker timeout (a second), so the first job after an idle spell waits up to that long.
Here the enqueue script publishes the queue's name on `<namespace>:__wake__` when its push
made a list go from empty to one message (never under load, when lists are not empty), and
each worker process keeps one subscription that sets the queue's event; an idle consumer
waits on that event rather than sleeping. Without the subscription (Redis away, not yet
connected) the consumer's backoff is what it was: the wake-up only shortens waits.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import defaultdict
from typing import Any

logger = logging.getLogger(__name__)

#: Seconds before a lost subscription is made again.
RESUBSCRIBE_DELAY = 1.0


def channel(namespace: str) -> str:
    return f"{namespace}:__wake__"


class Wakeups:
    """One subscription per process; an event per queue name."""

    def __init__(self, client: Any, namespace: str) -> None:
        self.client = client
        self.channel = channel(namespace)
        self._events: defaultdict[str, threading.Event] = defaultdict(threading.Event)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def event(self, queue_name: str) -> threading.Event:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="adjobs-wakeups", daemon=True)
                self._thread.start()
            return self._events[queue_name]

    def _listen(self) -> None:
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                for message in pubsub.listen():
                    data = message.get("data")
                    name = data.decode() if isinstance(data, bytes) else str(data)
                    with self._lock:
                        event = self._events.get(name)
                    if event is not None:
                        event.set()
            except Exception as error:  # Redis away: consumers fall back to their backoff meanwhile
                logger.debug("Wake-up subscription lost (%s); subscribing again.", error)
            finally:
                with contextlib.suppress(Exception):  # the connection is gone already
                    pubsub.close()
            time.sleep(RESUBSCRIBE_DELAY)
