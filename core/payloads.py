"""The job contract: payload models, priorities, the job errors and payload validation.

A job's payload is a `JobPayload` model: keyword arguments in snake_case, the HTTP API's
camelCase names accepted too, dates kept within years 1970-2999. `validate_payload` turns a
validation failure into `InvalidPayload`, whose message names the job and the field; it also
refuses values PostgreSQL cannot store (NUL, NaN). Pure: no broker, no database. The
`job_actor` decorator that uses all this is `actors._base`'s.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidatorFunctionWrapHandler, field_validator
from pydantic.alias_generators import to_camel

from core import send_limits
from errors import InvalidInput, JobsError

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
        send_limits.check_date(result)
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
    """`kwargs` as a `model`, or `InvalidPayload` naming `actor_name` and the first bad field."""
    if args:
        raise InvalidPayload(actor_name, "payload fields are keyword arguments, got positional ones")
    try:
        request = model.model_validate(kwargs)
    except ValidationError as error:
        raise InvalidPayload(actor_name, error) from None
    except OverflowError:  # a field validator's date arithmetic (a period's end) overflowed
        field = _overflowing_field(model, kwargs)
        raise InvalidPayload(actor_name, f"field {field!r}: a date or time out of range") from None
    if bad := send_limits.unstorable(kwargs, "payload"):
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
