"""`jobsctl tokens create|list|revoke` as an operator runs them: separate processes, the real `api_tokens` table,
and the API's own check of a bearer token (`api.auth.role_of`)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from api.auth import role_of
from db.engine import get_engine
from db.models import ApiToken
from tests.support.processes import BIN


def jobsctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "jobsctl"), *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(*args: str) -> Any:
    result = jobsctl(*args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def stored_rows() -> list[dict[str, Any]]:
    with get_engine().connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(ApiToken.__table__))]


def test_a_created_token_is_printed_once_kept_only_as_its_hash_and_opens_the_api():
    # When an operator makes an admin token
    result = jobsctl("tokens", "create", "ci-deploy", "--role", "admin")
    # Then stdout is the token alone (for TOKEN=$(jobsctl tokens create ...)) and stderr says it is shown once
    assert result.returncode == 0, result.stdout + result.stderr
    token = result.stdout.strip()
    assert len(token.splitlines()) == 1 and len(token) >= 40
    assert "shown only now" in result.stderr and "ci-deploy" in result.stderr
    # And the table holds its SHA-256, never the token itself
    [row] = stored_rows()
    assert row["name"] == "ci-deploy" and row["role"] == "admin"
    assert row["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(value) for value in row.values()}
    assert row["id"] in result.stderr
    # And the API's bearer check accepts it with its role
    assert role_of(token) == "admin"
    assert role_of(token + "x") is None


def test_list_shows_id_name_role_created_expiry_and_last_use_but_never_the_secret():
    # Given two tokens, one read token with a lifetime, and only the admin one used
    admin = ok("tokens", "create", "dashboard", "--role", "admin")
    reader = ok("tokens", "create", "grafana", "--expires-in", "2h")
    assert reader["role"] == "read"  # the default role only looks
    assert role_of(admin["token"]) == "admin"
    # When they are listed
    listed = ok("tokens", "list")
    table = jobsctl("tokens", "list")
    # Then each shows its id, name, role, creation, expiry and last use
    by_name = {item["name"]: item for item in listed}
    assert set(by_name) == {"dashboard", "grafana"}
    assert by_name["dashboard"]["id"] == admin["id"] and by_name["dashboard"]["role"] == "admin"
    assert by_name["dashboard"]["lastUsedAt"] is not None and by_name["grafana"]["lastUsedAt"] is None
    assert by_name["dashboard"]["expiresAt"] is None
    expires = datetime.fromisoformat(by_name["grafana"]["expiresAt"])
    assert timedelta(minutes=119) < expires - datetime.now(UTC) <= timedelta(hours=2)
    assert set(by_name["grafana"]) == {"id", "name", "role", "createdAt", "expiresAt", "lastUsedAt"}
    assert table.returncode == 0 and "grafana" in table.stdout and "never" in table.stdout
    assert admin["id"] in table.stdout and " UTC" in table.stdout  # times carry their zone
    # And neither the secrets nor their digests appear anywhere
    for token in (admin["token"], reader["token"]):
        digest = hashlib.sha256(token.encode()).hexdigest()
        for output in (json.dumps(listed), table.stdout):
            assert token not in output and digest not in output


def test_an_expired_token_is_marked_in_the_list_and_refused_by_the_api():
    # Given a token whose lifetime has run out
    made = ok("tokens", "create", "old-script", "--expires-in", "1h")
    with get_engine().begin() as connection:
        connection.execute(
            update(ApiToken).where(ApiToken.id == made["id"]).values(expires_at=datetime.now(UTC) - timedelta(hours=1))
        )
    # Then the API refuses it and the list says it expired
    assert role_of(made["token"]) is None
    assert "expired" in jobsctl("tokens", "list").stdout


def test_revoke_ends_a_token_at_once_and_an_unknown_id_is_exit_3():
    # Given a token in use
    made = ok("tokens", "create", "laptop", "--role", "admin")
    kept = ok("tokens", "create", "server")
    assert role_of(made["token"]) == "admin"
    # When it is revoked by id
    revoked = jobsctl("tokens", "revoke", made["id"])
    # Then the API refuses it from now on, and only the other token is left
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in revoked.stdout and "laptop" in revoked.stdout
    assert role_of(made["token"]) is None
    assert role_of(kept["token"]) == "read"
    assert [item["id"] for item in ok("tokens", "list")] == [kept["id"]]
    # And revoking it again, or an id that never was, is one line and exit 3
    for unknown in (made["id"], "no-such-id"):
        again = jobsctl("tokens", "revoke", unknown)
        assert again.returncode == 3, again.stdout + again.stderr
        assert again.stderr.startswith("error: no API token with id") and len(again.stderr.splitlines()) == 1


def test_a_bad_role_name_or_lifetime_is_refused_with_exit_2_and_nothing_is_stored():
    for args, named in (
        (("tokens", "create", "x", "--role", "root"), "role 'root'"),
        (("tokens", "create", "x", "--expires-in", "soon"), "--expires-in 'soon'"),
        (("tokens", "create", "x", "--expires-in", "0d"), "--expires-in '0d'"),
        (("tokens", "create", "   "), "name"),
    ):
        result = jobsctl(*args)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.startswith("error:") and named in result.stderr, result.stderr
        assert result.stdout == ""
    assert stored_rows() == []


def test_with_the_database_away_tokens_commands_exit_4_in_one_line():
    away = {"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/adjobs"}
    for args in (("tokens", "list"), ("tokens", "create", "x"), ("tokens", "revoke", "some-id")):
        result = jobsctl(*args, env=away)
        assert result.returncode == 4, result.stdout + result.stderr
        assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1, result.stderr
