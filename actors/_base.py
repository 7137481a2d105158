"""The `job_actor` decorator and `JobActor`, the actor class whose `send()` checks what it sends.

A job actor validates its payload twice (`core.payloads`): at `send()`, where an invalid
payload raises `InvalidPayload` naming the field and enqueues nothing, and in the worker, where
a message that fails validation (sent by hand, or by an older producer) goes straight to `dead`.
`send()` also refuses what could only fail later (`core.send_limits`): a delay or `run_at`
beyond 7 days or out of range, over-long dedupe keys, a payload over the broker's size limit.
Every job actor is declared on the process's broker (`wiring.broker.get_broker()`).

Tenants (`core.tenants`): a publisher-scoped actor (`tenant_field="publisher_id"`) sends each
job with the payload's publisher as its `tenant` option, and any send may name one (`tenant=`):
the broker takes turns between tenants and the queue limits count per tenant. A job with a
tenant and no priority of its own gets its tenant's tier's (`TIERS__<TIER>__PRIORITY`, read
from Redis through `runtime.publisher_tiers`, never from the database).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

import dramatiq

from actors._outages import hold_if_unreachable
from brokers.priority_redis import MessageTooLarge
from core import send_limits
from core.payloads import InvalidPayload, JobPayload, PermanentJobError, Priority, validate_payload
from core.tenants import checked_tenant
from runtime import flags, publisher_tiers
from settings import get_settings
from wiring.broker import get_broker

P = TypeVar("P", bound=JobPayload)


class JobActor(dramatiq.Actor):  # type: ignore[type-arg]
    """An actor whose `send()` validates the payload and accepts our message options.

    Options beyond Dramatiq's: `priority` (Priority or 1-10), `job_id` (dedupe key),
    `run_at` (an aware datetime; becomes a delay), `tenant` (whose job it is), `pipeline_id`, `retry_of`.
    """

    payload_model: type[JobPayload]
    #: The payload field whose value is a job's tenant when the send names none (None: no tenant).
    tenant_field: str | None = None

    def message_with_options(
        self, *, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> dramatiq.Message:  # type: ignore[type-arg]
        request = validate_payload(self.actor_name, self.payload_model, args, kwargs or {})
        options = _message_options(self.actor_name, options)
        if "tenant" not in options and self.tenant_field is not None:
            value = getattr(request, self.tenant_field, None)
            if value is not None and value != "":
                options["tenant"] = _tenant(self.actor_name, value)
        if "tenant" in options and "priority" not in options:
            priority = publisher_tiers.tier_priority(options["tenant"])
            if priority is not None:
                options["priority"] = priority
        return super().message_with_options(args=(), kwargs=request.model_dump(mode="json"), **options)

    def send_many(self, payloads: Iterable[dict[str, Any]], *, priority: Any = None) -> list[dramatiq.Message]:  # type: ignore[type-arg]
        """Send one job per payload in a few Redis round trips (fan-out: a job per publisher, ...).

        Every payload is validated first: one invalid payload refuses the whole batch, naming
        its position and field, and nothing is enqueued. On Redis the messages go out in
        pipelined batches of 1,000; other brokers get them one by one.
        """
        options = {} if priority is None else {"priority": priority}
        messages = []
        for index, kwargs in enumerate(payloads):
            try:
                messages.append(self.message_with_options(kwargs=kwargs, **options))
            except InvalidPayload as error:
                raise InvalidPayload(self.actor_name, f"payload #{index}: {str(error).split(', ', 1)[-1]}") from None
        enqueue_many = getattr(self.broker, "enqueue_many", None)
        try:
            if enqueue_many is None:
                return [self.broker.enqueue(message) for message in messages]
            return list(enqueue_many(messages))
        except MessageTooLarge as error:
            raise _too_large(self.actor_name, error) from None

    def send_with_options(
        self,
        *,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        delay: timedelta | int | None = None,
        **options: Any,
    ) -> dramatiq.Message:  # type: ignore[type-arg]
        if isinstance(delay, timedelta):
            delay = int(delay.total_seconds() * 1000)
        try:
            if delay is not None:
                delay = send_limits.checked_delay(delay)
            run_at = options.pop("run_at", None)
            if run_at is not None:
                delay = send_limits.delay_until(run_at)
        except ValueError as error:
            raise InvalidPayload(self.actor_name, str(error)) from None
        if delay is not None and delay <= 0:
            delay = None
        message = self.message_with_options(args=args, kwargs=kwargs, **options)
        key = message.options.get("dedupe_key")
        if key:
            holder = flags.claim(self.queue_name, key, message.message_id)
            if holder is not None:
                # The job holding the key is still waiting, delayed or active: enqueue nothing.
                return message.copy(message_id=holder, options={"deduplicated": True})
            try:
                return self.broker.enqueue(message, delay=delay)
            except BaseException as error:
                flags.release(self.queue_name, key, message.message_id)
                if isinstance(error, MessageTooLarge):
                    raise _too_large(self.actor_name, error) from None
                raise
        try:
            return self.broker.enqueue(message, delay=delay)
        except MessageTooLarge as error:
            raise _too_large(self.actor_name, error) from None


def _too_large(actor_name: str, error: MessageTooLarge) -> InvalidPayload:
    """The broker's size limit (MAX_PAYLOAD_BYTES) reported as an invalid payload, like any other."""
    return InvalidPayload(
        actor_name, f"payload too large: {error.size:,} bytes encoded, limit {error.limit:,} (MAX_PAYLOAD_BYTES)"
    )


def _message_options(actor_name: str, options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    if "priority" in out:
        priority = out["priority"]
        try:
            priority = int(priority if not isinstance(priority, str) else Priority[priority.upper()])
        except (KeyError, ValueError, TypeError, OverflowError):
            raise InvalidPayload(
                actor_name, f"options.priority: must be 1-10 or a name like HIGH, got {priority!r}"
            ) from None
        if not 1 <= priority <= 10:
            raise InvalidPayload(actor_name, f"options.priority: must be between 1 and 10, got {priority}")
        out["priority"] = priority
    if "tenant" in out:
        tenant = out.pop("tenant")
        if tenant is not None:
            out["tenant"] = _tenant(actor_name, tenant)
    if "job_id" in out:
        job_id = out.pop("job_id")
        if job_id is not None:
            try:
                out["dedupe_key"] = send_limits.checked_dedupe_key(job_id)
            except ValueError as error:
                raise InvalidPayload(actor_name, str(error)) from None
    return out


def _tenant(actor_name: str, value: Any) -> str:
    try:
        return checked_tenant(value)
    except ValueError as error:
        raise InvalidPayload(actor_name, str(error)) from None


def job_actor(
    *,
    queue: str,
    payload: type[JobPayload],
    actor_name: str | None = None,
    tenant_field: str | None = None,
    **options: Any,
) -> Callable[[Callable[[P], Any]], JobActor]:
    """Declare a job: its queue's figures (attempts, backoff, time limit) come from settings.

    `tenant_field` names the payload field whose value is each job's tenant (`"publisher_id"`
    for publisher-scoped jobs), unless a send names its own (`tenant=`).

    The function receives the validated payload model; its return value is the job's
    result summary in the store. The actor is declared on the process's broker
    (`wiring.broker.get_broker()`, made now if it was not), or on `broker=` when given.
    """
    figures = get_settings().queue(queue)
    broker = options.pop("broker", None)  # a test's own broker; the process's broker otherwise

    def decorator(fn: Callable[[P], Any]) -> JobActor:
        name = actor_name or fn.__name__

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            request = validate_payload(name, payload, args, kwargs)
            try:
                return fn(request)  # type: ignore[arg-type]
            except Exception as error:
                hold_if_unreachable(error)  # its database or Redis is away: held, no attempt used
                raise

        throws = (PermanentJobError, *options.pop("throws", ()))
        settings = {
            "max_retries": figures.max_attempts - 1,
            "min_backoff": max(figures.backoff_delay, 1),
            "time_limit": figures.time_limit,
            **options,
        }
        # Dramatiq's overloads type the bare decorator and the decorator factory, not `fn` with options.
        actor = dramatiq.actor(  # type: ignore[call-overload]
            run,
            broker=broker or get_broker(),
            actor_class=JobActor,
            actor_name=name,
            queue_name=queue,
            throws=throws,
            **settings,
        )
        actor.payload_model = payload
        actor.tenant_field = tenant_field
        return actor

    return decorator
