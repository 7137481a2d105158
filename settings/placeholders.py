"""Placeholder secrets: docker/.env.example's example values and the usual stand-ins, refused at start.

A placeholder left in a real deployment is an open door (anyone who read the example knows the
admin token) or a password everyone knows. The API and the worker refuse to start with one
(`wiring.service.preflight`): one line naming the variable, exit 2. Pure text functions here;
`Settings.placeholder_variables()` applies them to the settings' secrets.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

#: Stand-ins for a secret, compared without case, spaces, `-`, `_` or `.` (`change-me`, `Change_Me`, `changeme`).
PLACEHOLDER_WORDS = frozenset({"changeme", "changeit", "changethis", "replaceme", "secret", "password", "placeholder"})
#: A value that starts with one of these is a placeholder too (`change-me-admin-token`, `change-me-read`).
PLACEHOLDER_PREFIXES = ("changeme", "replaceme")
#: docker/.env.example's example values that are not stand-in words (they are commented out there).
EXAMPLE_VALUES = frozenset({"https://public-key@sentry.example.com/1", "https://hooks.example.com/adjobs"})

_IGNORED = re.compile(r"[\s\-_.]")


def is_placeholder(value: str | None) -> bool:
    """True for a known stand-in (`change-me`, `secret`, `change-me-admin-token`) or an example value of ours."""
    if not value:
        return False
    if value.strip() in EXAMPLE_VALUES:
        return True
    plain = _IGNORED.sub("", value).lower()
    return plain in PLACEHOLDER_WORDS or plain.startswith(PLACEHOLDER_PREFIXES)


def url_password(url: str | None) -> str | None:
    """The password of a connection URL (`postgresql+psycopg://user:password@host/db`), decoded; None without one."""
    if not url:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:  # a malformed port: the settings' own checks and the driver say so
        return None
    return unquote(password) if password else None
