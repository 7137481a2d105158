"""Refuse request bodies over `API_MAX_BODY_BYTES` before anything reads them: 413 in the envelope.

A pure ASGI middleware, outside routing and the token check. A declared `Content-Length`
over the limit is answered at once, without reading a byte of the body or waiting for it.
A body without a length (chunked) is counted as the app reads it: past the limit, reading
stops with `BodyTooLarge` (an HTTP 413 the app's handler writes as the envelope), so no
more than the limit is ever held.

(FastAPI's own `max_body_size` is not used: it sits outside the app's middleware and
answers in plain text, without the envelope or the security headers.)
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.envelope import error

CODE = "too_large"


def too_large_message(limit: int) -> str:
    return f"the request body is larger than {limit:,} bytes (API_MAX_BODY_BYTES)"


class BodyTooLarge(HTTPException):
    """Raised when a streamed request body goes past the limit while it is read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit), headers={"Connection": "close"})


class BodyLimit:
    """Refuse bodies over `limit` bytes: declared ones up front, streamed ones as they are read."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and not declared.isdigit():
            await error(400, "bad_request", f"Content-Length {declared[:40]!r} is not a number")(scope, receive, send)
            return
        if declared is not None and int(declared) > self.limit:
            await error(413, CODE, too_large_message(self.limit), {"Connection": "close"})(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)
