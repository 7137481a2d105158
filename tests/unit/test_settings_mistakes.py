"""Settings that are mistakes, refused with a line naming the variable and what would be valid.

A misspelled per-queue setting (queue or figure), a DATABASE_URL naming no database, and a
placeholder secret (docker/.env.example's, `change-me`, `secret`). The subprocess tests of each
entry point are in tests/jobsctl/test_setup_mistakes.py.
"""

from __future__ import annotations

import pytest

from settings import QUEUE_NAMES, SettingsError, load_settings, unknown_queues
from settings.placeholders import is_placeholder, url_password
from wiring.service import refuse_placeholders


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("QUEUES__DATA_EXPRT__CONCURRENCY", "no queue 'data-exprt' (did you mean data-export?); the queues are "),
        ("QUEUES__CLEANUPS__TIME_LIMIT", "no queue 'cleanups' (did you mean cleanup?); the queues are "),
        ("QUEUES__DATA_EXPORT__CONCURENCY", "no figure CONCURENCY (did you mean CONCURRENCY?); the figures of a queue"),
        ("QUEUES__LIMITS_PROBE__RATELIMIT", "no figure RATELIMIT (did you mean RATE_LIMIT?); the figures of a queue"),
    ],
)
def test_a_misspelled_queue_setting_is_refused_naming_the_variable_and_the_valid_names(monkeypatch, variable, expected):
    # Given a per-queue setting with a misspelled queue or figure
    monkeypatch.setenv(variable, "3")
    # When the settings are read
    with pytest.raises(SettingsError) as refused:
        load_settings()
    # Then the one line names the variable as written, a guess, and every valid name
    message = str(refused.value)
    assert message.startswith(f"setting {variable}: {expected}"), message
    if "queues are" in expected:
        assert message.endswith(", ".join(QUEUE_NAMES)), message
    else:
        assert "CONCURRENCY, RATE_LIMIT, RATE_WINDOW, MAX_ATTEMPTS, BACKOFF_DELAY, TIME_LIMIT" in message


def test_an_extension_queue_far_from_every_contract_name_is_accepted_and_a_worker_can_tell_it_is_unknown(monkeypatch):
    # Given figures for a queue of an extension (a test's), and one for a queue nobody declares
    monkeypatch.setenv("QUEUES__LIMITS_PROBE__CONCURRENCY", "2")
    monkeypatch.setenv("QUEUES__NIGHTLY_ROLLUPS__RATE_LIMIT", "5")
    # When the settings are read
    settings = load_settings()
    # Then both are accepted, and only the undeclared one is unknown to a worker declaring `limits-probe`
    assert settings.queue("limits-probe").concurrency == 2
    assert unknown_queues(settings.queues, ["limits-probe", "data-export"]) == {
        "nightly-rollups": "QUEUES__NIGHTLY_ROLLUPS__RATE_LIMIT"
    }


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:5432",
        "postgresql://adjobs:pw@db:5432/",
        "postgres://db",
        "sqlite://",
        "sqlite:///:memory:",
    ],
)
def test_a_database_url_naming_no_database_is_a_setting_error(monkeypatch, url):
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value).startswith("setting DATABASE_URL: names no database"), refused.value
    assert "Value error" not in str(refused.value)


@pytest.mark.parametrize(
    "url", ["postgresql://adjobs:pw@db:5432/adjobs", "postgresql://db/?dbname=adjobs", "sqlite:///var/x.sqlite3"]
)
def test_a_database_url_naming_its_database_is_accepted(monkeypatch, url):
    monkeypatch.setenv("DATABASE_URL", url)
    assert load_settings().effective_database_url.endswith(url.split("://", 1)[1])


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        ("change-me", True),
        ("changeme", True),
        ("Change_Me", True),
        ("change-me-admin-token", True),
        ("change-me-read", True),
        ("secret", True),
        ("SECRET", True),
        ("password", True),
        ("https://public-key@sentry.example.com/1", True),
        ("https://hooks.example.com/adjobs", True),
        ("s3cr3t-7f1c-a9", False),
        ("admin-token-for-tests", False),
        ("my-secret-token-4d2e", False),
        ("", False),
        (None, False),
    ],
)
def test_known_placeholders_are_told_from_real_secrets(value, placeholder):
    assert is_placeholder(value) is placeholder


def test_the_variables_holding_a_placeholder_are_named_and_a_real_deployment_refuses_them():
    # Given tokens and URLs, some holding placeholders
    settings = load_settings(
        embedded=False,
        api_admin_tokens="a-real-token-5e1d,change-me-admin-token",
        api_read_tokens="read-9c2f",
        database_url="postgresql://adjobs:change-me@postgres:5432/adjobs",
        redis_url="redis://:r3al-pass@redis:6379/0",
        sentry_dsn="https://public-key@sentry.example.com/1",
    )
    # Then the variables are named, and the start-up check refuses them in one line naming them
    assert settings.placeholder_variables() == ["API_ADMIN_TOKENS", "DATABASE_URL", "SENTRY_DSN"]
    with pytest.raises(SettingsError) as refused:
        refuse_placeholders(settings)
    assert str(refused.value).startswith("setting API_ADMIN_TOKENS, DATABASE_URL, SENTRY_DSN: a placeholder value")
    assert "change-me-admin-token" not in str(refused.value)


def test_the_embedded_default_is_not_a_deployment_and_is_not_refused():
    refuse_placeholders(load_settings(embedded=True, api_admin_tokens="change-me"))


def test_a_url_password_is_read_decoded():
    assert url_password("postgresql://u:ch%61nge-me@h/db") == "change-me"
    assert url_password("redis://h:6379/0") is None
    assert url_password(None) is None
