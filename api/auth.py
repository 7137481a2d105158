"""Bearer tokens with two roles: `read` (GET) and `admin` (everything).

Tokens come from `API_ADMIN_TOKENS` / `API_READ_TOKENS` and from the `api_tokens` table
(only their SHA-256 is stored; expired ones are refused). Every comparison runs in constant
time over every configured token, so timing says nothing about which one nearly matched.
A table token's `last_used_at` is brought up to date when it is used, at most once a
minute per token, so a busy client costs one extra write a minute, not one per call.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import func, or_, select, update

from db.engine import get_engine
from db.models import ApiToken
from errors import Forbidden, Unauthorized
from settings import get_settings

Role = Literal["read", "admin"]

logger = logging.getLogger(__name__)

#: `api_tokens.last_used_at` is written when it is older than this (or never set).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _matches(candidate: str, tokens: list[str]) -> bool:
    found = False
    for token in tokens:
        found |= hmac.compare_digest(candidate.encode(), token.encode())
    return found


def role_of(token: str) -> Role | None:
    settings = get_settings()
    if _matches(token, [t.get_secret_value() for t in settings.api_admin_tokens]):
        return "admin"
    if _matches(token, [t.get_secret_value() for t in settings.api_read_tokens]):
        return "read"
    digest = hashlib.sha256(token.encode()).hexdigest()
    try:
        with get_engine().connect() as connection:
            row = connection.execute(
                select(ApiToken.role, ApiToken.expires_at, ApiToken.last_used_at).where(ApiToken.token_sha256 == digest)
            ).first()
    except Exception:  # the table is unreachable: settings tokens still work
        return None
    now = datetime.now(UTC)
    if row is None or (row.expires_at is not None and _aware(row.expires_at) <= now):
        return None
    if row.last_used_at is None or _aware(row.last_used_at) <= now - LAST_USED_RESOLUTION:
        _mark_used(digest, now)
    return "admin" if row.role == "admin" else "read"


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive times back: they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _mark_used(digest: str, now: datetime) -> None:
    """Set `last_used_at`; the condition keeps two processes from both writing within the minute."""
    stale = now - LAST_USED_RESOLUTION
    try:
        with get_engine().begin() as connection:
            connection.execute(
                update(ApiToken)
                .where(
                    ApiToken.token_sha256 == digest,
                    or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= stale),
                )
                .values(last_used_at=func.now())
            )
    except Exception as error:  # bookkeeping only: the token is still valid
        logger.warning("api_tokens.last_used_at could not be updated: %s", type(error).__name__)


#: Declares the scheme in the OpenAPI document; the checks below give the envelope's errors.
bearer_scheme = HTTPBearer(auto_error=False, description="a read or admin token")


def require_read(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> Role:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    role = role_of(credentials.credentials.strip())
    if role is None:
        raise Unauthorized("the bearer token is not valid")
    request.state.role = role
    return role


def require_admin(role: Role = Depends(require_read)) -> Role:
    if role != "admin":
        raise Forbidden("this call changes something: it needs an admin token")
    return role
