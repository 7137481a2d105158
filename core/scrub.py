"""Removes secrets from text and payloads before they leave the process (logs, Sentry events, alerts).

Three rules:

- by name: a key whose name contains one of `SECRET_WORDS` (`api_token`, `dbPassword`,
  `client_secret`, `api-key`, `AWS_ACCESS_KEY`) or has one of `SECRET_PARTS` as a word of its
  own (`auth`, `basicAuth`, `x-auth`, not `author`) loses its value, in dicts and in text
  (`password='x'`, `"token": "x"`, `auth=x`; quoted values may hold both quote characters);
- in URLs: `scheme://user:password@host` becomes `scheme://***@host`;
- by value: every secret the settings hold (connection-string passwords, tokens, the DSN,
  the webhook URL, see `Settings.secret_values()`) is replaced wherever it appears.

Scrubbing runs on every log line and in Sentry's `before_send`, holding the interpreter lock,
so it must stay linear in the length of the text: every pattern here is anchored where a key,
a quote or `://` starts and uses possessive quantifiers, so no character is scanned more than
a bounded number of times, whatever the input.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

from settings import SettingsError, get_settings

#: Parts of key names whose values are never sent anywhere (compared without case, `_` or `-`).
SECRET_WORDS = (
    "token",
    "password",
    "passwd",
    "pwd",
    "secret",
    "api_key",
    "apikey",
    "access_key",
    "accesskey",
    "authorization",
    "credential",
    "private_key",
    "privatekey",
    "cookie",
    "session",
    "dsn",
)
#: Words that make a key secret only as a word of their own (`auth`, `basic_auth`, `xAuth`; not `author`).
SECRET_PARTS = ("auth",)
#: What a scrubbed value becomes (Sentry's own marker).
FILTERED = "[Filtered]"
#: What the user information of a URL (`user:password@`) becomes.
URL_CREDENTIALS = "***"
#: How deep nested payloads are followed.
MAX_DEPTH = 12
#: Longest text scrubbed; the rest of a longer one is cut (scrubbing is linear, this bounds its time too).
MAX_SCRUB_CHARS = 1_048_576
#: Secret values shorter than this are not searched for by value (they would match ordinary words).
MIN_SECRET_LENGTH = 6


def _word(word: str) -> str:
    """`api_key` → a pattern matching `api_key`, `apikey`, `api-key`, `API.KEY` (case is ignored around it)."""
    return r"[-_. ]?".join(re.escape(part) for part in word.split("_"))


# A secret word anywhere in a name, or `auth` as a word of its own (`auth`, `x-auth`, `basicAuth`; not `author`).
_SECRET_NAME = (
    r"(?=(?i:[" + "".join(sorted({word[0] for word in (*SECRET_WORDS, *SECRET_PARTS)})) + r"]))"  # cheap guard
    r"(?:(?i:"
    + "|".join(_word(word) for word in SECRET_WORDS)
    + r")|(?<![A-Za-z0-9])(?i:"
    + "|".join(SECRET_PARTS)
    + r")(?![A-Za-z0-9])|(?<=[a-z0-9])(?:"
    + "|".join(part.capitalize() for part in SECRET_PARTS)
    + r")(?![a-z0-9]))"
)
_SECRET_KEY = re.compile(_SECRET_NAME)
# A key where its name starts (never inside one: no rescans) and a separator follows (`name=`, `'name': `,
# `\\"name\\":`), whose name holds a secret word; then its value: quoted (backslash escapes included, on
# one line) or bare up to a separator. Each quantifier is possessive: nothing is scanned twice.
_SEPARATOR = r"\\?+['\"]?+\s*+[=:]"
_KEYED_VALUE = re.compile(
    r"(?<![\w-])(?=[\w-]++" + _SEPARATOR + r")(?=[\w-]*?" + _SECRET_NAME + r")([\w-]++" + _SEPARATOR + r"\s*+)"
    r"(?:'(?:[^'\\\n]++|\\.)*+'|\"(?:[^\"\\\n]++|\\.)*+\"|[^\s,)}&]++)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s++[\w.~+/=-]++")
# The user information of a URL: everything after `://` up to the authority's last `@`.
_URL_CREDENTIALS = re.compile(r"://(?:[^\s/?#@]*+@)++")


def is_secret_key(key: object) -> bool:
    return _SECRET_KEY.search(str(key)) is not None


def redact_url(url: str) -> str:
    """`scheme://user:password@host/path` → `scheme://***@host/path`, for anything that prints a URL."""
    return _URL_CREDENTIALS.sub(f"://{URL_CREDENTIALS}@", url)


def url_origin(url: str) -> str:
    """`scheme://user:password@host:port/secret/path?key=x` → `scheme://host:port` (for URLs whose path is secret)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return "[URL]"
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    return f"{scheme}://{authority}"


def secret_values() -> tuple[str, ...]:
    """The secrets of the process's settings, longest first (none when the settings cannot be read)."""
    try:
        settings = get_settings()
    except SettingsError:
        return ()
    global _values_of, _values
    if _values_of is not settings:
        found = {
            form
            for value in settings.secret_values()
            if len(value) >= MIN_SECRET_LENGTH
            # as written, inside a repr, inside JSON
            for form in (value, repr(value)[1:-1], json.dumps(value)[1:-1])
        }
        _values = tuple(sorted(found, key=len, reverse=True))
        _values_of = settings
    return _values


_values_of: object = None
_values: tuple[str, ...] = ()


def redact_values(text: str, values: tuple[str, ...] | None = None) -> str:
    """Every known secret value in `text` (the settings' by default) replaced by `[Filtered]`."""
    for value in secret_values() if values is None else values:
        if value in text:
            text = text.replace(value, FILTERED)
    return text


def scrub_text(text: str) -> str:
    """Secrets out of a message or repr: by value, in URLs, `Bearer x`, and `password='x'` → `password=[Filtered]`."""
    if len(text) > MAX_SCRUB_CHARS:
        text = f"{text[:MAX_SCRUB_CHARS]}… [{len(text) - MAX_SCRUB_CHARS} more characters cut]"
    text = redact_values(text)
    text = redact_url(text)
    text = _BEARER.sub(rf"\1 {FILTERED}", text)
    return _KEYED_VALUE.sub(rf"\1{FILTERED}", text)


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


def redact_strings(value: Any, depth: int = 0) -> Any:
    """A copy of `value` with secret values and URL credentials removed from every string, keys kept."""
    if depth > 64:  # Sentry's serialised events are shallower than this
        return value
    if isinstance(value, str):
        return redact_url(redact_values(value))
    if isinstance(value, dict):
        return {key: redact_strings(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_strings(item, depth + 1) for item in value]
    return value
