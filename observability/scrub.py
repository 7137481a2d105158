"""Removes secrets from payloads before they leave the process (Sentry events, alerts).

A key is secret when its name contains one of `SECRET_WORDS` (so `api_token`, `dbPassword`
and `client_secret` all are); strings that look like `password=...` lose the value.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

#: Parts of key names whose values are never sent anywhere.
SECRET_WORDS = (
    "token",
    "password",
    "passwd",
    "pwd",
    "secret",
    "api_key",
    "apikey",
    "authorization",
    "credential",
    "private_key",
    "privatekey",
    "cookie",
    "session",
    "dsn",
)
#: What a scrubbed value becomes (Sentry's own marker).
FILTERED = "[Filtered]"
#: How deep nested payloads are followed.
MAX_DEPTH = 12

_NORMALISE = re.compile(r"[^a-z0-9]")
_WORDS = tuple(_NORMALISE.sub("", word) for word in SECRET_WORDS)
_INLINE = re.compile(
    r"(?i)([\w-]*(?:" + "|".join(re.escape(word) for word in SECRET_WORDS) + r")[\w-]*['\"]?\s*[=:]\s*)"
    r"('[^']*'|\"[^\"]*\"|[^\s,)}&]+)"
)


_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+")


def is_secret_key(key: object) -> bool:
    normalised = _NORMALISE.sub("", str(key).lower())
    return any(word in normalised for word in _WORDS)


def scrub_text(text: str) -> str:
    """`password='x'` → `password=[Filtered]` (and `'password': 'x'` likewise), for reprs and messages."""
    text = _BEARER.sub(lambda match: f"{match.group(1)} {FILTERED}", text)
    return _INLINE.sub(lambda match: match.group(1) + FILTERED, text)


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of `value` with secret keys' values replaced, recursively."""
    if depth > MAX_DEPTH:
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: FILTERED if is_secret_key(key) else scrub(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item, depth + 1) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value
