"""Daily, weekly and monthly publisher reports: HTML and CSV files, recorded, optionally emailed."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dramatiq.middleware import CurrentMessage
from pydantic import Field, field_validator

from actors._base import job_actor
from core.file_writes import UnsafePath
from core.payloads import JobError, JobPayload, PermanentJobError
from db import reports
from db.engine import get_engine
from db.publishers import publisher_known
from reporting import mail, render
from reporting.figures import ReportType, compute_report, period_of
from settings import get_settings

_EMAIL = r"^[^@\s,;<>]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,}$"


class ReportRequest(JobPayload):
    #: The publisher reported on; its files go to `REPORT_DIR/<publisher>/`.
    publisher_id: str = Field(min_length=1, max_length=64)
    #: A day, an ISO week (Monday to Sunday) or a calendar month, in the publisher's calendar.
    report_type: ReportType
    #: Any day of the period: the day, the ISO week or the month that holds it.
    date: date
    #: Email addresses the report is sent to when SMTP_URL is set.
    recipients: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("publisher_id")
    @classmethod
    def _names_a_directory(cls, value: str) -> str:
        # Reports go to <REPORT_DIR>/<publisher id, other than [A-Za-z0-9_.-] made `_`>/, so
        # `../x` or `/etc` stay inside it; `.` and `..` would not, and are refused.
        if value in (".", ".."):
            raise ValueError(f"publisher id {value!r} cannot name a report directory under REPORT_DIR")
        return value

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.match(_EMAIL, address):
                raise ValueError(f"{address!r} is not an email address")
        return value


@job_actor(queue="report-generation", payload=ReportRequest, tenant_field="publisher_id")
def generate_report(request: ReportRequest) -> dict[str, Any]:
    period = period_of(request.report_type, request.date)
    if period.start > datetime.now(UTC).date():
        raise PermanentJobError(f"generate_report: the period starting {period.start} has not begun")
    message = CurrentMessage.get_current_message()
    engine = get_engine()
    with engine.begin() as connection:
        # Registered, or with events in the period (local periods of any zone: a day's margin).
        first, last = period.bounds
        if not publisher_known(connection, request.publisher_id, first - timedelta(days=1), last + timedelta(days=1)):
            raise PermanentJobError(f"generate_report: unknown publisher {request.publisher_id!r}")
        record = reports.start_report(
            connection,
            request.publisher_id,
            request.report_type,
            period.start,
            period.end,
            message.message_id if message else None,
        )
        figures = compute_report(connection, request.publisher_id, request.report_type, request.date)
    try:
        return _deliver(request, record, figures)
    except Exception as error:
        with engine.begin() as connection:
            reports.finish_report(connection, record["id"], status="failed", error=f"{type(error).__name__}: {error}")
        raise


def _deliver(request: ReportRequest, record: dict[str, Any], figures: dict[str, Any]) -> dict[str, Any]:
    period = period_of(request.report_type, request.date)
    try:
        html_path, csv_path = render.write_files(figures)
    except UnsafePath as error:
        raise PermanentJobError(f"generate_report: {error}") from None
    emailed_at = record["emailed_at"]
    already_sent = emailed_at is not None and sorted(record["recipients"] or []) == sorted(request.recipients)
    settings = get_settings()
    note = None
    if request.recipients and not already_sent:
        if settings.smtp_url:
            try:
                mail.send_report(
                    settings.smtp_url,
                    settings.smtp_from,
                    request.recipients,
                    render.title(figures),
                    html_path,
                    csv_path,
                )
            except mail.MailSettingsError as error:
                raise PermanentJobError(f"generate_report: {error}") from None
            except OSError as error:  # smtplib's errors are OSErrors: retry later
                raise JobError(f"generate_report: sending the email failed: {error}") from error
            emailed_at = datetime.now(UTC)
        else:
            note = "not emailed: SMTP_URL is not set"
    with get_engine().begin() as connection:
        reports.finish_report(
            connection,
            record["id"],
            status="completed",
            summary=figures,
            html_path=str(html_path),
            csv_path=str(csv_path),
            recipients=request.recipients,
            emailed_at=emailed_at,
            error=note,
        )
    return {
        "report_id": record["id"],
        "period": f"{period.start}..{period.end}",
        "revenue": figures["totals"]["revenue"],
        "emailed": emailed_at is not None,
        "html": html_path.name,
    }
