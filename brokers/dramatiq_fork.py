"""What we forked from Dramatiq, and the private parts of it we rely on: recorded, so a new release is checked.

`brokers/dispatch.lua` is Dramatiq 2.2.1's Redis script with our changes (its header lists
them). Beside it, the private internals our broker and middleware subclass, wrap or call,
each with the sha256 of its source as Dramatiq 2.2.1 has it and what to re-check when it
changes. `fork_differences()` compares both with the installed Dramatiq; the fork test fails
with its messages, so an upgrade of Dramatiq (pinned `>=2.2.1,<2.3`) is a reviewed step.
Pure: reads files and sources, never Redis.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path

import dramatiq
import dramatiq.brokers.redis

from brokers.tenant_lists import PUSH_IN_TURN

#: The Dramatiq release `dispatch.lua` was forked from.
FORKED_RELEASE = "2.2.1"
#: sha256 of that release's `dramatiq/brokers/redis/dispatch.lua`.
UPSTREAM_DISPATCH_SHA256 = "ba4d872e4fb204ebc3f73ca4719265a9946d70e847856c125314f01a8c90540c"
#: Our fork, loaded when a broker is made (`load_dispatch_script`).
DISPATCH_SCRIPT = Path(__file__).with_name("dispatch.lua")


@dataclass(frozen=True)
class Internal:
    """A private piece of Dramatiq we rely on: where it is, its source's sha256, what depends on it."""

    module: str
    name: str
    sha256: str
    recheck: str

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}"

    def source(self) -> str:
        target: object = importlib.import_module(self.module)
        for part in self.name.split("."):
            target = getattr(target, part)
        return inspect.getsource(target)  # type: ignore[arg-type]


INTERNALS = (
    Internal(
        "dramatiq.brokers.redis",
        "_RedisConsumer.__next__",
        "b8245bc4ab8044d67d72216baca5e5be0d07fccce15c443a5887b6397c9906e1",
        "brokers/priority_redis.py `_PriorityConsumer.__next__` is a changed copy of it: port upstream's change",
    ),
    Internal(
        "dramatiq.brokers.redis",
        "_RedisConsumer.nack",
        "573d58e9c2a0765e548254536ea85c397f44008b20496e9d81a7d658dcbd0f7c",
        "`_PriorityConsumer.nack` calls it under the connection id the message was fetched with",
    ),
    Internal(
        "dramatiq.brokers.redis",
        "_RedisConsumer.requeue",
        "4d8aac265b34222e576339dd7c108e912009878f705e6f8bafa3843c0c6ab341",
        "`_PriorityConsumer.requeue` groups messages by fetching id and calls it per group",
    ),
    Internal(
        "dramatiq.brokers.redis",
        "RedisBroker._dispatch",
        "ee77793d07f17bbefbffb5da1da34b5bcce1d5d7eb78eb793a6863eb397fd3d5",
        "the argument order of dispatch.lua (ARGV 1-8) and `PriorityRedisBroker._dispatch`'s wrapper",
    ),
    Internal(
        "dramatiq.brokers.redis",
        "RedisBroker._should_do_maintenance",
        "12c5be867fd067ada71dc514a5475f76a9747c0179445b8c9e62303dfda93419",
        "`PriorityRedisBroker._should_do_maintenance` (maintenance at least every interval)",
    ),
    Internal(
        "dramatiq.brokers.redis",
        "RedisBroker.enqueue",
        "e1590deaae2f786a112a39bbea6003e910489c7e69f3bc227fca16a2d898e9ee",
        "`PriorityRedisBroker.enqueue` sets the lane before it and `do_enqueue` passes lane and wake-up channel",
    ),
    Internal(
        "dramatiq.worker",
        "_WorkQueueItem",
        "42aadef56603649d383c349a9f1896baed7d16ce99dd32c5bfe7187d2fcf2a15",
        "middleware/worker_tuning.py `MessagePriorityQueue` builds these items with a message-priority key",
    ),
    Internal(
        "dramatiq.worker",
        "Worker._add_consumer",
        "79ec1f676e9b774f58ee63bdb35cea0cc6a0194bb2dd2be44c14839f357f779a",
        "middleware/worker_tuning.py wraps it to set each queue's prefetch",
    ),
    Internal(
        "dramatiq.worker",
        "ConsumerThread.handle_message",
        "8b12bea8fc89d656867ebbda3f2d8381178fae0613876e469f04d55c0c5ef9cc",
        "`_PriorityConsumer` counts a message without `eta` as in hand (work queue), one with `eta` as delayed",
    ),
    Internal(
        "dramatiq.rate_limits.concurrent",
        "ConcurrentRateLimiter._acquire",
        "32f1a0db0e568de218fdec7ff94cd5afbf9b6e82192b811219cc84fedc85af32",
        "middleware/queue_limits.py takes a concurrency slot with it outside `acquire()`",
    ),
    Internal(
        "dramatiq.rate_limits.concurrent",
        "ConcurrentRateLimiter._release",
        "d65080073ee93dc5d4c5bb7780ff42e5d99aba89af291724dc06335e3ec318cd",
        "middleware/queue_limits.py gives a concurrency slot back with it",
    ),
    Internal(
        "dramatiq.rate_limits.window",
        "WindowRateLimiter._acquire",
        "cad4eb17d2fc77f32e79992d4da9036289e06803f90cda910a05ba598802f7a5",
        "middleware/queue_limits.py `AdmissionWindow.acquire_at` calls it for a given instant",
    ),
    Internal(
        "dramatiq.rate_limits.window",
        "WindowRateLimiter._get_keys",
        "2158522303ead94f467b09a5451e09e45c480772414dae481164adb819526ddc",
        "middleware/queue_limits.py `AdmissionWindow._get_keys` overrides it (the window's key names)",
    ),
)


def sha256_of(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def installed_dispatch_script() -> Path:
    return Path(dramatiq.brokers.redis.__file__).parent / "redis" / "dispatch.lua"


def load_dispatch_script() -> str:
    """Our `dispatch.lua` (read when a broker is made, never at import), after the tenant push it calls."""
    return PUSH_IN_TURN + DISPATCH_SCRIPT.read_text()


def fork_differences(script: Path | None = None, internals: tuple[Internal, ...] = INTERNALS) -> list[str]:
    """One line per difference between the installed Dramatiq and what we forked; empty when none.

    `script` and `internals` default to the installed Dramatiq's script and our record."""
    problems: list[str] = []
    script = script or installed_dispatch_script()
    actual = sha256_of(script.read_bytes()) if script.exists() else "(missing)"
    if actual != UPSTREAM_DISPATCH_SHA256:
        problems.append(
            f"Dramatiq {dramatiq.__version__}'s {script} (sha256 {actual}) is not the script brokers/dispatch.lua "
            f"was forked from (Dramatiq {FORKED_RELEASE}, sha256 {UPSTREAM_DISPATCH_SHA256}): diff the two "
            "upstream scripts, re-apply the 'adjobs change' parts to the new one, then record its sha256 in "
            "dispatch.lua's header and UPSTREAM_DISPATCH_SHA256"
        )
    for internal in internals:
        try:
            digest = sha256_of(internal.source())
        except (ImportError, AttributeError, OSError, TypeError) as error:
            digest = f"(not found: {error})"
        if digest != internal.sha256:
            problems.append(
                f"Dramatiq {dramatiq.__version__}'s private {internal.qualified} changed since {FORKED_RELEASE} "
                f"(sha256 {digest}): re-check {internal.recheck}; "
                "then record the new sha256 in brokers/dramatiq_fork.py"
            )
    return problems
