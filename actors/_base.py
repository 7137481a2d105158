"""What every job type shares: payload models, priorities, errors and the `job_actor` decorator.

A job actor validates its payload twice: at `send()`, where an invalid payload raises
`InvalidPayload` naming the field and enqueues nothing, and in the worker, where a message
that fails validation (sent by hand, or by an older producer) goes straight to `dead`.
`send()` also refuses what could only fail later (`actors._send_limits`): a delay or
`run_at` beyond 7 days or out of range, dates whose arithmetic would overflow, values
PostgreSQL cannot store (NUL, NaN), over-long dedupe keys.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import timedelta
from enum import IntEnum
from typing import Any, TypeVar

import dramatiq
from pydantic import BaseModel, ConfigDict, ValidationError, ValidatorFunctionWrapHandler, field_validator
from pydantic.alias_generators import to_camel

from actors import _send_limits
from actors._outages import hold_if_unreachable
from brokers.priority_redis import MessageTooLarge
from errors import InvalidInput, JobsError
from settings import get_settings

P = TypeVar("P", bound="JobPayload")


class Priority(IntEnum):
    """Per-message priority; lower runs first."""

    CRITICAL = 1
    HIGH = 3
    NORMAL = 5
    LOW = 7
    BACKGROUND = 10


class JobPayload(BaseModel):
    """A job's keyword arguments: snake_case, with the API's camelCase names accepted too."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )

    @field_validator("*", mode="wrap")
    @classmethod
    def _dates_in_range(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Every date field within years 1970-2999: `date.max` and its like overflow in the job."""
        try:
            result = handler(value)
        except OverflowError:
            raise ValueError("a date or time out of range") from None
        _send_limits.check_date(result)
        return result


class JobError(JobsError):
    """Raised by a job for a failure worth retrying (the database away, a timeout)."""


class PermanentJobError(JobsError):
    """Raised when a job cannot succeed however often it runs; it goes to `dead` at once."""


class InvalidPayload(PermanentJobError, InvalidInput):
    """Raised when a payload fails validation; the message names the job and the field."""

    def __init__(self, actor_name: str, error: ValidationError | str) -> None:
        if isinstance(error, ValidationError):
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "payload"
            self.field = field
            detail = f"field {field!r}: {first['msg']}"
            if len(error.errors()) > 1:
                detail += f" (and {len(error.errors()) - 1} more)"
        else:
            self.field = "payload"
            detail = error
        super().__init__(f"{actor_name}: invalid payload, {detail}")


def validate_payload(actor_name: str, model: type[P], args: tuple[Any, ...], kwargs: dict[str, Any]) -> P:
    if args:
        raise InvalidPayload(actor_name, "payload fields are keyword arguments, got positional ones")
    try:
        request = model.model_validate(kwargs)
    except ValidationError as error:
        raise InvalidPayload(actor_name, error) from None
    except OverflowError:  # a field validator's date arithmetic (a period's end) overflowed
        field = _overflowing_field(model, kwargs)
        raise InvalidPayload(actor_name, f"field {field!r}: a date or time out of range") from None
    if bad := _send_limits.unstorable(kwargs, "payload"):
        field = bad.removeprefix("payload.")
        raise InvalidPayload(
            actor_name, f"field {field!r}: NUL characters and NaN or infinite numbers cannot be stored"
        )
    return request


def _overflowing_field(model: type[JobPayload], kwargs: dict[str, Any]) -> str:
    """The field whose validation overflows, found by validating each one alone."""
    names = {field.alias or name: name for name, field in model.model_fields.items()}
    empty = model.model_construct()
    for key, value in kwargs.items():
        try:
            model.__pydantic_validator__.validate_assignment(empty, names.get(key, key), value)
        except OverflowError:
            return key
        except Exception:  # any other failure is not the one looked for
            continue
    return "payload"


class JobActor(dramatiq.Actor):  # type: ignore[type-arg]
    """An actor whose `send()` validates the payload and accepts our message options.

    Options beyond Dramatiq's: `priority` (Priority or 1-10), `job_id` (dedupe key),
    `run_at` (an aware datetime; becomes a delay), `pipeline_id`, `retry_of`.
    """

    payload_model: type[JobPayload]

    def message_with_options(
        self, *, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, **options: Any
    ) -> dramatiq.Message:  # type: ignore[type-arg]
        request = validate_payload(self.actor_name, self.payload_model, args, kwargs or {})
        return super().message_with_options(
            args=(), kwargs=request.model_dump(mode="json"), **_message_options(self.actor_name, options)
        )

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
                delay = _send_limits.checked_delay(delay)
            run_at = options.pop("run_at", None)
            if run_at is not None:
                delay = _send_limits.delay_until(run_at)
        except ValueError as error:
            raise InvalidPayload(self.actor_name, str(error)) from None
        if delay is not None and delay <= 0:
            delay = None
        message = self.message_with_options(args=args, kwargs=kwargs, **options)
        key = message.options.get("dedupe_key")
        if key:
            from runtime import flags

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
    if "job_id" in out:
        job_id = out.pop("job_id")
        if job_id is not None:
            try:
                out["dedupe_key"] = _send_limits.checked_dedupe_key(job_id)
            except ValueError as error:
                raise InvalidPayload(actor_name, str(error)) from None
    return out


def job_actor(
    *,
    queue: str,
    payload: type[JobPayload],
    actor_name: str | None = None,
    **options: Any,
) -> Callable[[Callable[[P], Any]], JobActor]:
    """Declare a job: its queue's figures (attempts, backoff, time limit) come from settings.

    The function receives the validated payload model; its return value is the job's
    result summary in the store.
    """
    figures = get_settings().queue(queue)

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
            actor_class=JobActor,
            actor_name=name,
            queue_name=queue,
            throws=throws,
            **settings,
        )
        actor.payload_model = payload
        return actor

    return decorator
