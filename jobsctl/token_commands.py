"""`jobsctl tokens create|list|revoke`: bearer tokens of the admin API kept in the `api_tokens` table.

A token is printed once, when it is made (alone on stdout, so `TOKEN=$(jobsctl tokens create ci)`
works), and stored only as its SHA-256 (`db.api_tokens`, checked by `api.auth`). `list` shows
id, name, role, created, expiry and last use, never the secret; `revoke ID` ends one at once.
Exit codes: 0 done, 2 a bad name, role or lifetime, 3 no token with that id, 4 the database away.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from db import api_tokens
from db.engine import get_engine
from errors import InvalidInput
from jobsctl.common import JsonOption, app, console, emit_json, err, format_time, report
from jobsctl.operator_commands import operation

tokens_app = typer.Typer(help="API tokens in the database: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")

_LIFETIME = re.compile(r"^(\d{1,5})([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
#: A listed token's instants.
TIME_FIELDS = ("createdAt", "expiresAt", "lastUsedAt")


def parse_lifetime(value: str) -> timedelta:
    """`12h`, `90d`, `4w` as a duration; anything else is refused naming the option."""
    match = _LIFETIME.match(value.strip())
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(f"--expires-in {value!r} is not a lifetime like 12h, 90d or 4w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _aware(moment).isoformat()


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive times back: they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@tokens_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A label saying who or what uses the token.")],
    role: Annotated[str, typer.Option(help="read (looks) or admin (may change things).")] = "read",
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="Lifetime such as 12h, 90d or 4w; default: no expiry.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make a token; it is printed once and kept only as a hash."""
    with operation():
        expires_at = datetime.now(UTC) + parse_lifetime(expires_in) if expires_in else None
        with get_engine().begin() as connection:
            issued = api_tokens.issue(connection, name, role, expires_at)
    if as_json:
        shown = {"id": issued.id, "name": name.strip(), "role": role, "expiresAt": _iso(expires_at)}
        emit_json({**shown, "token": issued.token})
        return
    print(issued.token)
    until = f", expires {format_time(expires_at)}" if expires_at else ""
    err.print(
        f"{role} token [bold]{escape(name.strip())}[/] (id {issued.id}{until}): shown only now, keep it safe; "
        f"`jobsctl tokens revoke {issued.id}` ends it",
        highlight=False,
    )


@tokens_app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """Every token in the database with its role, creation, expiry and last use (never the secret)."""
    with operation(), get_engine().connect() as connection:
        tokens = api_tokens.list_tokens(connection)
    if as_json:
        emit_json([{**token, **{key: _iso(token[key]) for key in TIME_FIELDS}} for token in tokens])
        return
    now = datetime.now(UTC)
    table = Table(title=f"API tokens ({len(tokens)})")
    for column in ("id", "name", "role", "created", "expires", "last used"):
        table.add_column(column, no_wrap=column == "id")
    for token in tokens:
        table.add_row(
            token["id"],
            escape(token["name"]),
            "[bold red]admin[/]" if token["role"] == "admin" else "read",
            format_time(token["createdAt"]),
            _expiry(token["expiresAt"], now),
            format_time(token["lastUsedAt"]) or "[dim]never[/]",
        )
    console.print(table)


def _expiry(expires_at: datetime | None, now: datetime) -> str:
    if expires_at is None:
        return "[dim]never[/]"
    shown = format_time(expires_at)
    return f"[red]expired[/] {shown}" if _aware(expires_at) <= now else shown


@tokens_app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (`jobsctl tokens list`).")],
    as_json: JsonOption = False,
) -> None:
    """Delete a token: calls carrying it are refused from now on."""
    with operation(), get_engine().begin() as connection:
        revoked: dict[str, Any] = api_tokens.revoke(connection, token_id)
    report(revoked, as_json, f"revoked {revoked['role']} token [bold]{escape(revoked['name'])}[/] ({revoked['id']})")
