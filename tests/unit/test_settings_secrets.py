"""Connection strings and tokens are secrets in the settings: their repr never shows them, code reads them on purpose.

Pure logic: no server is needed.
"""

from __future__ import annotations

from pydantic import SecretStr

from settings import load_settings

SECRETS = {
    "database_url": "postgres://app:db-1a2b-secret@db:5432/app",
    "redis_url": "redis://:redis-3c4d-secret@cache:6379/0",
    "broker_url": "amqp://jobs:broker-5e6f-secret@mq:5672/",
    "smtp_url": "smtp://mailer:smtp-7a8b-secret@mail:25",
    "alert_webhook_url": "https://hooks.example.com/hook-9c0d-secret",
    "sentry_dsn": "https://dsn-1e2f-secret@o1.ingest.sentry.io/1",
    "api_admin_tokens": "admin-3a4b-secret",
    "api_read_tokens": "read-5c6d-secret",
}


def test_no_connection_string_or_token_shows_in_the_settings_repr_or_str():
    # Given settings holding a secret in every secret-bearing setting
    settings = load_settings(**SECRETS)
    # When they are printed, as a log line or a Sentry frame variable would print them
    shown = repr(settings) + str(settings) + repr(settings.model_dump())
    # Then no secret shows
    for value in SECRETS.values():
        assert value not in shown
    for secret in ("db-1a2b", "redis-3c4d", "broker-5e6f", "smtp-7a8b", "hook-9c0d", "dsn-1e2f", "admin-3a4b"):
        assert secret not in shown
    assert all(isinstance(getattr(settings, name), SecretStr | list) for name in SECRETS)


def test_the_code_reads_the_urls_through_accessors_and_postgres_urls_are_still_normalised():
    settings = load_settings(**SECRETS)
    assert settings.effective_database_url == "postgresql+psycopg://app:db-1a2b-secret@db:5432/app"
    assert settings.effective_redis_url == SECRETS["redis_url"]
    assert settings.effective_broker_url == SECRETS["broker_url"]
    assert settings.smtp_url is not None and settings.smtp_url.get_secret_value() == SECRETS["smtp_url"]


def test_every_secret_is_listed_for_scrubbing_by_value():
    values = load_settings(**SECRETS).secret_values()
    for secret in ("db-1a2b-secret", "redis-3c4d-secret", "broker-5e6f-secret", "smtp-7a8b-secret",
                   "/hook-9c0d-secret", "dsn-1e2f-secret", "admin-3a4b-secret", "read-5c6d-secret"):  # fmt: skip
        assert secret in values, values
