"""The project's error tree: one root, `JobsError`, carrying what each error means outside.

Every error the product raises on purpose derives from one of the kinds below, and its kind
says how it leaves: `http_status` and `code` for the admin API's envelope
(`{"success": false, "error": {"code", "message"}}`, mapped in `api.errors`) and `exit_code`
for `jobsctl` (mapped in `jobsctl.common`). A module's own errors keep their names and
subclass a kind (`control.service.UnknownQueue(NotFound)`), so neither mapping lists them.

Exit codes (README, CONTRACT.md): 0 done, 1 failed, 2 refused input, 3 not found,
4 a server unreachable. This module imports nothing of the project: every layer may use it.
"""

from __future__ import annotations

from typing import ClassVar

#: `jobsctl` exit codes scripts rely on.
EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_UNAVAILABLE = 0, 1, 2, 3, 4


class JobsError(Exception):
    """Raised for a failure of the product itself; the root every other error of the project derives from."""

    #: The admin API's status for it.
    http_status: ClassVar[int] = 500
    #: `jobsctl`'s exit code for it.
    exit_code: ClassVar[int] = EXIT_FAILED
    #: The API envelope's `error.code`.
    code: ClassVar[str] = "internal_error"
    #: What an API client reads in place of the message (None: the message), when that names hosts,
    #: ports or other internals: the message itself stays for the log and `jobsctl`.
    public_message: ClassVar[str | None] = None


class NotFound(JobsError, LookupError):
    """Raised when a queue, job, schedule, export, pipeline run or dead letter does not exist."""

    http_status = 404
    exit_code = EXIT_NOT_FOUND
    code = "not_found"


class InvalidInput(JobsError, ValueError):
    """Raised when input cannot be used (a bad field, a name that fits nothing); the message names the field."""

    http_status = 422
    exit_code = EXIT_INVALID
    code = "invalid_request"


class Conflict(JobsError):
    """Raised when an operation is not possible in the current state (cancel a finished job, a file not ready)."""

    http_status = 409
    exit_code = EXIT_FAILED
    code = "invalid_state"


class Unauthorized(JobsError):
    """Raised when a call carries no valid bearer token."""

    http_status = 401
    exit_code = EXIT_FAILED
    code = "unauthorized"


class Forbidden(JobsError):
    """Raised when a valid token's role does not allow the call (a read token on a mutating call)."""

    http_status = 403
    exit_code = EXIT_FAILED
    code = "forbidden"


class ServiceUnavailable(JobsError):
    """Raised when a server the product needs (Redis, PostgreSQL, the broker, a mail server) cannot be reached."""

    http_status = 503
    exit_code = EXIT_UNAVAILABLE
    code = "unavailable"


class Misconfigured(JobsError):
    """Raised when a setting is missing or malformed; the message names the variable."""

    http_status = 500
    exit_code = EXIT_INVALID
    code = "misconfigured"


#: Every kind, for the mappings' documentation and their tests.
KINDS: tuple[type[JobsError], ...] = (
    JobsError,
    NotFound,
    InvalidInput,
    Conflict,
    Unauthorized,
    Forbidden,
    ServiceUnavailable,
    Misconfigured,
)
