"""The tables: raw ad events, rollups (both read by BI, names fixed by CONTRACT.md) and the job store."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base

#: JSON on SQLite, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")
#: Auto-incrementing 64-bit keys that SQLite also accepts.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class Publisher(Base):
    """A publisher whose ad units produce events."""

    __tablename__ = "publishers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    #: IANA time zone of the publisher's calendar (day, week and month rollups, reports, daily run).
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, server_default="UTC")
    tier: Mapped[str] = mapped_column(String(32), nullable=False, server_default="standard")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RollupFreshness(Base):
    """When a publisher's rollups of one local day were last brought up to date."""

    __tablename__ = "rollup_freshness"

    publisher_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AdEvent(Base):
    """One raw event row: counts for a (time, publisher, ad unit, country, device).

    On PostgreSQL the table is partitioned by UTC day on `ts` (migration 0009, `db/partitions.py`),
    so its key is (id, ts); SQLite keeps `id` alone.
    """

    __tablename__ = "ad_events"
    __table_args__ = (Index("ix_ad_events_ts_publisher", "ts", "publisher_id"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    publisher_id: Mapped[str] = mapped_column(String(64), nullable=False)
    ad_unit_id: Mapped[str] = mapped_column(String(64), nullable=False)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    device: Mapped[str] = mapped_column(String(16), nullable=False)
    ad_requests: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    impressions: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    clicks: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    revenue: Mapped[Decimal] = mapped_column(Numeric(18, 6), nullable=False, default=0)


class AnalyticsRollup(Base):
    """Totals and ratios per (granularity, bucket start, publisher, ad unit)."""

    __tablename__ = "analytics_rollups"

    granularity: Mapped[str] = mapped_column(String(8), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    publisher_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ad_unit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ad_requests: Mapped[int] = mapped_column(BigInteger, nullable=False)
    impressions: Mapped[int] = mapped_column(BigInteger, nullable=False)
    clicks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    revenue: Mapped[Decimal] = mapped_column(Numeric(20, 6), nullable=False)
    ctr: Mapped[float | None] = mapped_column(Float)
    fill_rate: Mapped[float | None] = mapped_column(Float)
    ecpm: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StaleHour(Base):
    """A publisher's UTC hour that got events after its rollups were last recomputed.

    Written by the trigger on `ad_events` (migration 0010), deleted by the late-events job.
    """

    __tablename__ = "stale_hours"

    publisher_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    #: When the hour first became stale since its last re-aggregation.
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: Loads into the hour since it was marked; the job deletes a mark only at the revision it read.
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class IngestBatch(Base):
    """An event file loaded into `ad_events`, keyed by the SHA-256 of its bytes (migration 0008)."""

    __tablename__ = "ingest_batches"
    __table_args__ = (Index("ix_ingest_batches_loaded_at", "loaded_at"),)

    checksum: Mapped[str] = mapped_column(String(64), primary_key=True)
    file_name: Mapped[str] = mapped_column(Text, nullable=False)
    file_format: Mapped[str] = mapped_column(String(16), nullable=False)
    file_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    rejected: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    publishers: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rejects_path: Mapped[str | None] = mapped_column(Text)
    loaded_by: Mapped[str] = mapped_column(String(64), nullable=False, default="jobsctl")
    seconds: Mapped[float | None] = mapped_column(Float)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class JobRecord(Base):
    """The job store: one row per message id, its life from enqueue to a final state."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_queue_state_enqueued", "queue", "state", "enqueued_at"),
        Index("ix_jobs_state_finished", "state", "finished_at"),
        Index("ix_jobs_dedupe_key", "queue", "dedupe_key"),
        Index("ix_jobs_pipeline_id", "pipeline_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    #: Orders the events of one job: (attempt, phase). An older event never overwrites a newer one.
    seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=5)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[float | None] = mapped_column(Float)
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    result: Mapped[Any | None] = mapped_column(JSONType)
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    retry_of: Mapped[str | None] = mapped_column(String(36))
    pipeline_id: Mapped[str | None] = mapped_column(String(36))
    worker: Mapped[str | None] = mapped_column(String(128))
    #: The broker's own id of the enqueued copy (Redis `redis_message_id`), to find it in the queue.
    broker_ref: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PipelineRun(Base):
    """One run of a pipeline (for example the daily pipeline for a day)."""

    __tablename__ = "pipeline_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    stage_names: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PipelineStage(Base):
    """A stage of a run once enqueued: the ids of its jobs (their states live in `jobs`)."""

    __tablename__ = "pipeline_stages"

    run_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("pipeline_runs.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    job_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class PublisherMetric(Base):
    """A publisher's metrics of one type for one hour or day (`values` holds the figures)."""

    __tablename__ = "publisher_metrics"

    metric_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    granularity: Mapped[str] = mapped_column(String(8), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    publisher_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Export(Base):
    """A data export: what was asked for, how far it got and where its file is (CONTRACT.md)."""

    __tablename__ = "exports"
    __table_args__ = (Index("ix_exports_publisher_created", "publisher_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    publisher_id: Mapped[str] = mapped_column(String(64), nullable=False)
    format: Mapped[str] = mapped_column(String(16), nullable=False)
    granularity: Mapped[str] = mapped_column(String(8), nullable=False, default="day")
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    end_date: Mapped[date] = mapped_column(Date, nullable=False)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    file_path: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Report(Base):
    """A publisher's report for one period: its figures, files and whether it was emailed."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("publisher_id", "report_type", "period_start", name="uq_reports_period"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    publisher_id: Mapped[str] = mapped_column(String(64), nullable=False)
    report_type: Mapped[str] = mapped_column(String(16), nullable=False)
    period_start: Mapped[date] = mapped_column(Date, nullable=False)
    period_end: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="processing")
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    html_path: Mapped[str | None] = mapped_column(Text)
    csv_path: Mapped[str | None] = mapped_column(Text)
    recipients: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """An API token issued at run time (besides those in settings); only its SHA-256 is kept."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_expires_at", "expires_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[str] = mapped_column(String(8), nullable=False)
    token_sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
