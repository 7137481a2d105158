"""API tokens issued at run time (`jobsctl tokens`): made, listed and revoked in `api_tokens`.

Only a token's SHA-256 is stored (`api.auth` checks a bearer token by that digest); the token
itself exists once, in what `issue` returns. Listings never carry the secret nor its digest.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from db.models import ApiToken
from errors import InvalidInput, NotFound

#: The roles a token may have: `read` looks, `admin` may change things (api.auth).
ROLES = ("read", "admin")
#: Prefix of issued tokens, so a leaked one is recognisable in logs and secret scanners.
PREFIX = "adj_"
#: Longest name (the column's width).
MAX_NAME = 100


class UnknownToken(NotFound):
    """Raised when no API token has the id given."""


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: `token` is shown once and stored nowhere."""

    id: str
    token: str


def digest(token: str) -> str:
    """What `api_tokens.token_sha256` holds for `token`."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue(connection: Connection, name: str, role: str, expires_at: datetime | None = None) -> IssuedToken:
    """Make a token with `role` (read or admin) under a label; only its digest is stored."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"a token's name must be 1 to {MAX_NAME} characters")
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}")
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = str(uuid.uuid4())
    connection.execute(
        insert(ApiToken).values(id=token_id, name=name, role=role, token_sha256=digest(token), expires_at=expires_at)
    )
    return IssuedToken(id=token_id, token=token)


def list_tokens(connection: Connection) -> list[dict[str, Any]]:
    """Every token, oldest first: id, name, role, created, expires, last used; never the secret."""
    rows = connection.execute(
        select(
            ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.created_at, ApiToken.expires_at, ApiToken.last_used_at
        ).order_by(ApiToken.created_at, ApiToken.id)
    )
    return [
        {
            "id": row.id,
            "name": row.name,
            "role": row.role,
            "createdAt": row.created_at,
            "expiresAt": row.expires_at,
            "lastUsedAt": row.last_used_at,
        }
        for row in rows
    ]


def revoke(connection: Connection, token_id: str) -> dict[str, Any]:
    """Delete the token `token_id` (it stops working at once); returns what it was, without the secret."""
    row = connection.execute(
        delete(ApiToken).where(ApiToken.id == token_id).returning(ApiToken.id, ApiToken.name, ApiToken.role)
    ).first()
    if row is None:
        raise UnknownToken(f"no API token with id {token_id!r} (`jobsctl tokens list` shows them)")
    return {"id": row.id, "name": row.name, "role": row.role, "revoked": True}
