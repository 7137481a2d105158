"""The secret parts of connection strings and URLs: what `Settings.secret_values()` hands to scrubbing.

Pure text functions, at the settings layer because the settings object lists its own secrets
(`core.scrub` removes each of them from log lines and Sentry events by value).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

_AUTHORITY = re.compile(r"://([^\s/?#]++)")


def url_secret_forms(url: str | None) -> list[str]:
    """The parts of a connection URL that are secret: its password, as written and decoded, and the URL with it.

    A URL without a password (`redis://127.0.0.1:6379/0`) holds no secret: it stays readable in errors and logs.
    """
    if not url:
        return []
    authority = _AUTHORITY.search(url)
    userinfo = authority.group(1).rpartition("@")[0] if authority else ""
    _user, colon, password = userinfo.partition(":")
    if not (colon and password):
        return []
    return [url, password, unquote(password)]


def after_origin(url: str) -> list[str]:
    """A URL's secret parts: with and without its query, its path, the query and each query value."""
    parts = urlsplit(url)
    found = [url.split("?", 1)[0], url[url.find(parts.path) :], parts.path] if parts.path not in ("", "/") else []
    return [*found, parts.query, *(value for _name, value in parse_qsl(parts.query))] if parts.query else found


def dsn_keys(dsn: str) -> list[str]:
    """A Sentry DSN's public and secret keys (`scheme://public[:secret]@host/project`)."""
    parts = urlsplit(dsn)
    return [key for key in (parts.username, parts.password) if key]
