"""Bulk actions in Chromium, at desktop and phone width, against `jobsctl api`: each button opens a dialog
that shows the dry run's count, acts on confirm and shows how many it touched; a read token sees none.

Dead jobs come from a worker in this process (exports for a publisher nobody registered can never
succeed). Screenshots: test-artifacts/dashboard/bulk-*.png.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page
from sqlalchemy import select

from actors.cleanup import cleanup
from actors.exports import export_data
from control import dead_letters
from db import jobstore
from db.engine import get_engine
from db.models import JobRecord
from tests.dashboard.pages import ADMIN, BROWSER_TESTS, READER, Pages, shot, sign_in
from tests.dashboard.test_layout import sideways_overflow
from tests.support import store
from tests.support.workers import running_worker

pytestmark = BROWSER_TESTS

EXPORTS = "data-export"


def dead_exports(broker: Any, formats: list[str]) -> list[str]:
    with running_worker(broker):
        ids = [
            export_data.send(
                publisher_id="pub-404", format=fmt, start_date="2026-11-02", end_date="2026-11-02"
            ).message_id
            for fmt in formats
        ]
        for job_id in ids:
            store.wait_for_state(job_id, "dead")
    return ids


def old_completed(count: int) -> list[str]:
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "id": str(uuid.uuid4()),
            "queue": EXPORTS,
            "actor": "export_data",
            "state": "completed",
            "seq": 0,
            "priority": 5,
            "payload": {"format": "csv"},
            "attempts": 1,
            "max_attempts": 3,
            "enqueued_at": now - timedelta(hours=3),
            "finished_at": now - timedelta(hours=2),
            "progress": 0,
        }
        for _ in range(count)
    ]
    with get_engine().begin() as connection:
        jobstore.upsert_jobs(connection, rows)
    return [row["id"] for row in rows]


def failed_cleanups(count: int) -> list[str]:
    """Cleanup jobs whose attempt failed, their next one pending, as a worker leaves them in the store."""
    rows: list[dict[str, Any]] = [
        {
            "id": str(uuid.uuid4()),
            "queue": "cleanup",
            "actor": "cleanup",
            "state": "failed",
            "seq": 0,
            "priority": 5,
            "payload": {"type": "temp_files", "dry_run": True},
            "attempts": 1,
            "max_attempts": 3,
            "enqueued_at": datetime.now(UTC) - timedelta(minutes=1),
            "progress": 0,
        }
        for _ in range(count)
    ]
    with get_engine().begin() as connection:
        jobstore.upsert_jobs(connection, rows)
    return [row["id"] for row in rows]


def _retries(job_ids: list[str]) -> list[tuple[str, str]]:
    """(id, retry_of) of the jobs sent again for `job_ids`."""
    store.job(job_ids[0])  # flushes the buffer
    table = JobRecord.__table__
    with get_engine().connect() as connection:
        rows = connection.execute(select(table.c.id, table.c.retry_of).where(table.c.retry_of.in_(job_ids)))
        return [(row.id, row.retry_of) for row in rows]


def retries_of(job_ids: list[str]) -> list[str]:
    """The jobs of `job_ids` that were sent again (once each)."""
    return [retry_of for _, retry_of in _retries(job_ids)]


def retries_of_ids(job_ids: list[str]) -> list[str]:
    """The ids of the jobs sent again for `job_ids`."""
    return [job_id for job_id, _ in _retries(job_ids)]


def confirm_in_dialog(page: Page, bulk: str, count: int, name: str, extra: str = "") -> None:
    """Open the dialog of button `bulk`, check the dry run's count, confirm, check the count done, close."""
    page.click(f"#view button[data-bulk='{bulk}']")
    page.wait_for_selector(f"#bulk-dialog[data-step=ready][data-count='{count}']")
    assert f"{count} " in page.inner_text("#bulk-text")
    assert extra in page.inner_text("#bulk-extra")
    shot(page, f"{name}-dry-run")
    page.click("#bulk-confirm")
    page.wait_for_selector(f"#bulk-dialog[data-step=done][data-result='{count}']")
    shot(page, f"{name}-done")
    page.click("#bulk-cancel")  # "Close" now
    page.wait_for_selector("#bulk-dialog", state="hidden")


def test_each_bulk_action_counts_first_then_acts_and_shows_what_it_did(server, chromium: Pages, viewport, broker):
    width, size = viewport
    # Given four dead exports (two CSV, two JSON lines), three cleanup jobs delayed ten minutes, two
    # failed ones (an attempt failed, the next pending), and five export records completed two hours ago
    dead = dead_exports(broker, ["csv", "csv", "json", "json"])
    delayed = [
        cleanup.send_with_options(kwargs={"type": "temp_files", "dry_run": True}, delay=600_000).message_id
        for _ in range(3)
    ]
    cleaned = old_completed(5)
    failed = failed_cleanups(2)
    page = chromium.open(size)
    sign_in(page, server, ADMIN)

    # When the search for the dead CSV exports retries them through its dialog
    page.goto(server + f"/#/search?queue={EXPORTS}&state=dead&field.format=csv")
    page.wait_for_selector("#search-total:has-text('2')")
    confirm_in_dialog(page, "retry-search", 2, f"bulk-retry-search-{width}")
    # Then those two, and only they, run again as new jobs
    assert sorted(retries_of(dead)) == sorted(dead[:2])

    # When the queue's "Retry all dead" counts, Then it finds the two JSON ones and says the CSV ones are skipped
    page.goto(server + f"/#/queue/{EXPORTS}")
    page.wait_for_selector("#bulk-actions")
    assert sideways_overflow(page) <= 0
    shot(page, f"bulk-queue-page-{width}")
    confirm_in_dialog(page, "retry-dead", 2, f"bulk-retry-dead-{width}", extra="2 other(s) will be skipped")
    assert sorted(retries_of(dead)) == sorted(dead)

    # When the four retries die too and the queue's dead letters are purged, Then none is left
    retried = retries_of_ids(dead)
    with running_worker(broker):
        for job_id in retried:
            store.wait_for_state(job_id, "dead")
    assert dead_letters.count_dead(EXPORTS) == {EXPORTS: 4}
    confirm_in_dialog(page, "purge", 4, f"bulk-purge-{width}")
    assert dead_letters.count_dead(EXPORTS) == {EXPORTS: 0}
    assert [store.job(job_id) for job_id in retried] == [None] * 4

    # When completed records older than an hour are cleaned, Then the five old ones are gone
    page.select_option("#clean-status", "completed")
    page.fill("#clean-grace", "3600")
    confirm_in_dialog(page, "clean", 5, f"bulk-clean-{width}")
    assert [store.job(job_id) for job_id in cleaned] == [None] * 5

    # When the cleanup queue's failed jobs are retried, Then each runs again and its pending attempt is retired
    page.goto(server + "/#/queue/cleanup")
    page.wait_for_selector("h1:has-text('cleanup')")
    confirm_in_dialog(page, "retry-failed", 2, f"bulk-retry-failed-{width}")
    assert sorted(retries_of(failed)) == sorted(failed)
    assert {(store.job(job_id) or {}).get("state") for job_id in failed} == {"cancelled"}

    # When the cleanup queue's delayed jobs are promoted, Then they wait on the queue, due now
    confirm_in_dialog(page, "promote", 3, f"bulk-promote-{width}")
    assert {(store.job(job_id) or {}).get("state") for job_id in delayed} == {"waiting"}

    # And with nothing left to promote, the dialog says so and offers no confirm button
    page.click("#view button[data-bulk=promote]")
    page.wait_for_selector("#bulk-dialog[data-step=done][data-count='0']")
    assert page.is_hidden("#bulk-confirm") and "Nothing to do" in page.inner_text("#bulk-text")
    page.click("#bulk-cancel")


def test_a_read_token_is_shown_no_bulk_action(server, chromium: Pages, viewport):
    width, size = viewport
    page = chromium.open(size)
    sign_in(page, server, READER)
    page.goto(server + f"/#/queue/{EXPORTS}")
    page.wait_for_selector(f"h1:has-text('{EXPORTS}')")
    assert page.locator("#bulk-actions").count() == 0 and page.locator("[data-bulk]").count() == 0
    old_completed(1)
    page.goto(server + f"/#/search?queue={EXPORTS}")
    page.wait_for_selector("#search-total:has-text('1')")
    assert page.locator("[data-bulk]").count() == 0
    shot(page, f"bulk-reader-{width}")
