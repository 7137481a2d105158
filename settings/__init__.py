"""The project's settings: one object, read from the environment and `.env`, in this package only.

Every name in CONTRACT.md is a field here. Per-queue figures (concurrency, rate limit,
attempts, backoff) are nested settings (`settings.queues`), overridable one by one, for example
`QUEUES__DATA_EXPORT__RATE_LIMIT=40` or `QUEUES__CLEANUP__CONCURRENCY=1`. The secret parts of
the URLs it holds are found by `settings.secrets`; placeholders left in secrets (docker/.env.example's)
by `settings.placeholders`. It imports no other package of the project but the error root (`errors`),
the one layer below it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from errors import Misconfigured
from settings.placeholders import is_placeholder, url_password
from settings.queues import (
    MISNAMED,
    QUEUE_DEFAULTS,
    QUEUE_NAMES,
    QueueSettings,
    QueuesSettings,
    ResolvedQueue,
    unknown_queues,
)
from settings.secrets import after_origin, dsn_keys, url_secret_forms
from settings.sentinels import parse_sentinels
from settings.tiers import ResolvedTier, TiersSettings

__all__ = [
    "QUEUE_DEFAULTS",
    "QUEUE_NAMES",
    "QueueSettings",
    "QueuesSettings",
    "ResolvedQueue",
    "ResolvedTier",
    "Settings",
    "SettingsError",
    "get_settings",
    "load_settings",
    "unknown_queues",
    "use_settings",
]


class SettingsError(Misconfigured, RuntimeError):
    """Raised when a setting is missing or malformed; the message names the variable."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything configurable, with the defaults a developer's laptop needs."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    # Connection strings and tokens are SecretStr: their repr (a settings object's, in a log line or a
    # Sentry frame) shows `**********`; code reads them through `effective_*_url` or `get_secret_value()`.
    redis_url: SecretStr | None = None
    database_url: SecretStr | None = None
    broker_url: SecretStr | None = None
    sentry_dsn: SecretStr | None = None
    # High availability: Redis behind Sentinels, RabbitMQ's queue type (README, "High availability").
    #: `host:port,...` of Redis Sentinels; with REDIS_SENTINEL_MASTER every Redis client asks them for the primary.
    redis_sentinels: Annotated[list[tuple[str, int]], NoDecode] = []
    #: The name the Sentinels monitor the primary under (required with REDIS_SENTINELS).
    redis_sentinel_master: str | None = Field(default=None, validate_default=True)
    #: Replicas that must hold each enqueued message before `send()` returns (Redis `WAIT`); 0 = do not wait.
    redis_enqueue_replicas: int = Field(default=0, ge=0)
    #: Most milliseconds a `send()` waits for those replicas (then it returns, with a warning logged).
    redis_enqueue_wait_ms: int = Field(default=1000, ge=1)
    #: `classic` or `quorum` (replicated across a RabbitMQ cluster; no per-queue priority on RabbitMQ 3.x).
    rabbitmq_queue_type: Literal["classic", "quorum"] = "classic"
    sentry_environment: str = "development"
    schedule_tz: str = "UTC"
    #: Schedules that run the ticks they missed during a beat outage (the others record them as missed).
    schedule_catch_up: Annotated[list[str], NoDecode] = ["daily-aggregation", "daily-cleanup", "weekly-reports"]
    #: At most this many missed ticks per schedule are caught up; older ones are recorded as missed.
    schedule_catch_up_limit: int = Field(default=7, ge=0)
    #: A tick this many seconds late still runs, for every schedule.
    schedule_grace_seconds: int = Field(default=90, ge=1)
    export_dir: Path = Path("var/exports")
    report_dir: Path = Path("var/reports")
    #: Worker and API log files (rotated ones included) that the `old_logs` cleanup removes.
    log_dir: Path = Path("var/log")
    #: Dashboard queries warmed by the cache-warming schedule, and how long an entry lives.
    cache_popular_keys: Annotated[list[str], NoDecode] = ["top-publishers:7d", "daily-totals:30d", "top-publishers:30d"]
    cache_ttl_seconds: int = Field(default=900, gt=0)
    api_admin_tokens: Annotated[list[SecretStr], NoDecode] = []
    api_read_tokens: Annotated[list[SecretStr], NoDecode] = []
    queue_max_attempts: int = Field(default=3, ge=1)
    queue_backoff_delay: int = Field(default=2000, ge=0)
    alert_webhook_url: SecretStr | None = None
    smtp_url: SecretStr | None = None
    smtp_from: str = "reports@adjobs.local"
    log_format: str = Field(default="text", pattern="^(text|json)$")
    # Observability: alerts (per queue unless said), health, heartbeats, metrics, dead letters.
    alert_failed_threshold: int = Field(default=100, ge=0)  # jobs failed or dead in the store
    alert_waiting_threshold: int = Field(default=10_000, ge=0)
    alert_delayed_threshold: int = Field(default=5_000, ge=0)
    alert_active_threshold: int = Field(default=1_000, ge=0)
    alert_failure_rate: float = Field(default=0.10, ge=0, le=1)  # dead / finished over the last hour
    alert_failure_rate_min_jobs: int = Field(default=20, ge=1)  # finished jobs before the rate counts
    alert_paused_queues: bool = True
    alert_missed_window: int = Field(default=3600, ge=60)  # seconds a missed schedule tick stays alerting
    alert_webhook_timeout: float = Field(default=5.0, gt=0)  # seconds
    monitor_interval: str = "* * * * *"  # cron of the alerts monitor
    health_timeout: float = Field(default=2.0, gt=0)  # seconds per dependency check
    scheduler_max_age: int = Field(default=180, ge=1)  # seconds since the beat's last tick
    # A broker connection silent this long is dead: its unacknowledged messages go back to their queue.
    broker_heartbeat_timeout: float = Field(default=60.0, ge=5)  # seconds
    # Each process returns dead connections' messages for a queue at least this often.
    broker_maintenance_interval: float = Field(default=10.0, gt=0)  # seconds
    # Messages each worker process fetches ahead per queue (Dramatiq's default: threads * 2).
    worker_prefetch: int = Field(default=64, ge=0, le=65535)
    worker_heartbeat_interval: float = Field(default=10.0, gt=0)  # seconds
    worker_heartbeat_timeout: float = Field(default=30.0, gt=0)  # seconds without one: the worker is gone
    metrics_flush_interval: float = Field(default=1.0, gt=0)  # seconds between a process's metric flushes
    dead_letter_ttl: int = Field(default=7 * 86400, ge=60)  # seconds dead letters are kept
    #: Largest encoded message (payload and options) `send()` accepts on Redis, in bytes.
    max_payload_bytes: int = Field(default=1_048_576, ge=1024)
    #: Most job-store events waiting in Redis for a writer; past it a send's event is dropped and counted.
    store_events_max: int = Field(default=1_000_000, ge=1000)
    #: A job whose database or Redis is unreachable is held, not failed, for this long (seconds).
    outage_hold_max: int = Field(default=3600, ge=0)
    #: Largest HTTP request body the API reads, in bytes; larger ones are refused (413) before they are read.
    api_max_body_bytes: int = Field(default=2_000_000, ge=1024)
    # Analytics on real data: event files, late events, the daily run, retention.
    #: Folder the ad servers drop event files into; the `ingest_events` actor and `jobsctl ingest` read from it.
    ingest_dir: Path = Path("var/ingest")
    #: Seconds between runs that re-aggregate the buckets late events made stale.
    late_events_interval: int = Field(default=300, ge=1)
    #: Seconds after a publisher's local midnight before its daily run starts.
    daily_run_delay: int = Field(default=3600, ge=0)
    #: Raw events older than this many days are dropped (a day partition at a time) by the `old_events` cleanup.
    events_retention_days: int = Field(default=400, ge=1)
    #: Where the embedded default keeps its SQLite file.
    embedded_database_path: Path = Path("var/adjobs.sqlite3")
    #: Set by `jobsctl demo` (and tests that ask for it): an in-process broker and worker.
    embedded: bool = False
    queues: QueuesSettings = QueuesSettings()
    #: Publisher tiers: default priority and limit factor of each (`TIERS__PREMIUM__PRIORITY=3`, `settings.tiers`).
    tiers: TiersSettings = TiersSettings()
    #: Seconds a process keeps the publisher -> tier map it read from Redis.
    tier_cache_seconds: float = Field(default=30.0, ge=0)

    @field_validator("api_admin_tokens", "api_read_tokens", "schedule_catch_up", "cache_popular_keys", mode="before")
    @classmethod
    def _tokens(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("database_url", mode="before")
    @classmethod
    def _normalise_database_url(cls, value: object) -> str | None:
        value = _plain(value)
        if not value:
            return None
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                value = "postgresql+psycopg://" + value[len(prefix) :]
        if not value.startswith(("postgresql+psycopg://", "sqlite://")):
            raise ValueError("must start with postgresql+psycopg://, postgresql://, postgres:// or sqlite:///")
        _require_database_name(value)
        return value

    @field_validator("redis_url", "broker_url", mode="before")
    @classmethod
    def _broker_scheme(cls, value: object) -> str | None:
        value = _plain(value)
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://", "amqp://", "amqps://")):
            raise ValueError("must be a redis://, rediss://, unix:// or amqp:// URL")
        return value

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def _sentinels(cls, value: object) -> object:
        return parse_sentinels(value)

    @field_validator("redis_sentinel_master", mode="after")
    @classmethod
    def _sentinel_master(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip() or None
        if info.data.get("redis_sentinels") and value is None:
            raise ValueError("required when REDIS_SENTINELS is set: the name the Sentinels monitor the primary under")
        return value

    @field_validator("alert_webhook_url", "smtp_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> str | None:
        return _plain(value) or None

    @field_validator("schedule_tz")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("monitor_interval")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"not a cron expression: {value!r}")
        return value

    # Derived values --------------------------------------------------------------------

    @property
    def effective_redis_url(self) -> str:
        """Redis for rate limits, locks and caches; the local default when unset."""
        return _secret(self.redis_url) or "redis://127.0.0.1:6379/0"

    @property
    def effective_broker_url(self) -> str:
        return _secret(self.broker_url) or self.effective_redis_url

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.embedded_database_path}"

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, as it may appear in text: whole URLs, their passwords, tokens.

        `core.scrub` removes each of them from log lines and Sentry events by value.
        """
        values: list[str] = []
        for url in (self.redis_url, self.database_url, self.broker_url, self.smtp_url, self.sentry_dsn):
            values += url_secret_forms(_secret(url))
        if self.alert_webhook_url:  # its path and query are the secret (a token in the path, a key in the query)
            webhook = self.alert_webhook_url.get_secret_value()
            values += [webhook, *after_origin(webhook)]
        if self.sentry_dsn:
            values += dsn_keys(self.sentry_dsn.get_secret_value())
        values += [token.get_secret_value() for token in (*self.api_admin_tokens, *self.api_read_tokens)]
        return [value for value in dict.fromkeys(values) if value]

    def placeholder_variables(self) -> list[str]:
        """The variables holding a placeholder secret (`change-me`, docker/.env.example's tokens), in settings order.

        Tokens are checked one by one, connection URLs by their password, the Sentry DSN and the
        alert webhook whole. The API and the worker refuse to start while this is not empty.
        """
        found: list[str] = []
        tokens = {"API_ADMIN_TOKENS": self.api_admin_tokens, "API_READ_TOKENS": self.api_read_tokens}
        for variable, values in tokens.items():
            if any(is_placeholder(token.get_secret_value()) for token in values):
                found.append(variable)
        urls = {"REDIS_URL": self.redis_url, "DATABASE_URL": self.database_url, "BROKER_URL": self.broker_url}
        for variable, url in {**urls, "SMTP_URL": self.smtp_url}.items():
            if is_placeholder(url_password(_secret(url))):
                found.append(variable)
        for variable, whole in {"SENTRY_DSN": self.sentry_dsn, "ALERT_WEBHOOK_URL": self.alert_webhook_url}.items():
            if is_placeholder(_secret(whole)):
                found.append(variable)
        return found

    def queue(self, name: str) -> ResolvedQueue:
        """The figures of queue `name` with the global defaults filled in.

        A queue outside CONTRACT.md's table (an extension's, a test's) gets the defaults.
        """
        key = name.replace("-", "_")
        raw = getattr(self.queues, key, None)
        if not isinstance(raw, QueueSettings):
            extra = (self.queues.model_extra or {}).get(key)
            try:
                raw = QueueSettings.model_validate(extra) if extra is not None else QueueSettings()
            except ValidationError as error:
                raise SettingsError(f"QUEUES__{key.upper()}: {_describe(error)}") from None
        return ResolvedQueue(
            name=name,
            concurrency=raw.concurrency,
            rate_limit=raw.rate_limit,
            rate_window=raw.rate_window,
            max_attempts=raw.max_attempts or self.queue_max_attempts,
            backoff_delay=self.queue_backoff_delay if raw.backoff_delay is None else raw.backoff_delay,
            time_limit=raw.time_limit,
            tenant_concurrency=raw.tenant_concurrency,
            tenant_rate_limit=raw.tenant_rate_limit,
            tenant_rate_window=raw.tenant_rate_window,
        )

    def tier(self, name: str | None) -> ResolvedTier:
        """The figures of publisher tier `name`; an unknown tier (or none) has the standard tier's."""
        return self.tiers.resolve(name)


def _plain(value: object) -> str | None:
    """A setting's raw value as text (settings may be given as text or as SecretStr)."""
    if value is None:
        return None
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _require_database_name(url: str) -> None:
    """Refuse a DATABASE_URL that names no database (`postgresql://host:5432`, `sqlite://`): say how to name one."""
    if url.startswith("sqlite"):
        if not url.partition(":///")[2].strip() or url.endswith(":memory:"):
            raise ValueError("names no database file: write sqlite:///path/to/file.sqlite3")
        return
    parts = urlsplit(url)
    if not parts.path.strip("/") and not parse_qs(parts.query).get("dbname"):
        raise ValueError(
            "names no database: end it with /<database>, as in postgresql+psycopg://user:pw@host:5432/adjobs"
        )


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    if first["type"] == MISNAMED:  # the message names the variable itself (`QUEUES__DATA_EXPRT__CONCURRENCY`)
        return f"setting {first['msg']}"
    variable = "__".join(str(part) for part in first["loc"]).upper() or "settings"
    return f"setting {variable}: {first['msg'].removeprefix('Value error, ')}"


_current: Settings | None = None


def get_settings() -> Settings:
    """The process's settings, read once. Raises SettingsError naming the bad variable."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and `.env`) afresh, with `overrides` taking precedence."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


def use_settings(settings: Settings | None) -> None:
    """Make `settings` the process's settings (`jobsctl demo`, tests); None forgets them."""
    global _current
    _current = settings
