"""The search page and the pagers in Chromium, at desktop and phone width, against `jobsctl api`.

Job records are written with the store's own upsert; the pages must show what the API keeps, in the
store's one order (newest first, ties by id), with the total. Screenshots: test-artifacts/dashboard/.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page

from db import jobstore
from db.engine import get_engine
from tests.dashboard.pages import ADMIN, BROWSER_TESTS, Pages, shot, sign_in
from tests.dashboard.test_layout import sideways_overflow

pytestmark = BROWSER_TESTS

BASE = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
#: The en dash between the first and the last job a pager shows ("51-100 of 120" with it).
DASH = "\u2013"


def record(queue: str, at: datetime, state: str = "completed", **payload: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "queue": queue,
        "actor": "export_data",
        "state": state,
        "seq": 0,
        "priority": 5,
        "payload": payload,
        "attempts": 1,
        "max_attempts": 3,
        "enqueued_at": at,
        "progress": 0,
    }


def store(rows: list[dict[str, Any]]) -> None:
    with get_engine().begin() as connection:
        jobstore.upsert_jobs(connection, rows)


def newest_first(rows: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(rows, key=lambda row: row["id"], reverse=True)
    return [row["id"] for row in sorted(ordered, key=lambda row: row["enqueued_at"], reverse=True)]


def shown(page: Page, within: str = "#view") -> list[str]:
    """The ids of the job rows on the page, top to bottom (read in one go: the view redraws every 3 s)."""
    return list(page.eval_on_selector_all(f"{within} tr[data-job]", "rows => rows.map((row) => row.dataset.job)"))


def test_a_queue_page_shows_its_jobs_a_page_at_a_time_with_the_total(server, chromium: Pages, viewport):
    width, size = viewport
    # Given 120 jobs of a queue: a pipeline stage of 60 enqueued in the same millisecond, 60 before it
    rows = [record("data-export", BASE) for _ in range(60)]
    rows += [record("data-export", BASE - timedelta(seconds=n + 1)) for n in range(60)]
    store(rows)
    want = newest_first(rows)
    page = chromium.open(size)
    sign_in(page, server, ADMIN)

    # When the queue's page opens, Then it shows the first 50, says which of how many, and offers the next page
    page.goto(server + "/#/queue/data-export")
    page.wait_for_selector("#queue-pager[data-total='120'][data-page='1']")
    assert page.inner_text("#queue-pager .range") == f"1{DASH}50 of 120"
    assert "page 1 of 3" in page.inner_text("#queue-pager")
    assert shown(page) == want[:50]
    assert sideways_overflow(page) <= 0
    shot(page, f"pager-queue-{width}")

    # When the next page is chosen, Then jobs 51-100 show, in the same order the store keeps
    page.click("#queue-pager a[rel=next]")
    page.wait_for_selector("#queue-pager[data-page='2']")
    assert page.inner_text("#queue-pager .range") == f"51{DASH}100 of 120"
    assert shown(page) == want[50:100]
    # And after a refresh of the view the page holds the same jobs in the same order (the tie is broken by id)
    page.wait_for_function("() => document.querySelector('#updated').textContent !== ''")
    page.wait_for_timeout(3500)
    assert shown(page) == want[50:100]

    # When the last page is chosen, Then the last 20 show and there is no older page
    page.click("#queue-pager a[rel=last]")
    page.wait_for_selector("#queue-pager[data-page='3']")
    assert shown(page) == want[100:]
    assert page.locator("#queue-pager a[rel=next]").count() == 0
    # And a state's tab starts at its own first page, with its own total
    page.click("#view .tabs a:has-text('completed')")
    page.wait_for_selector("#queue-pager[data-total='120'][data-page='1']")


def test_the_search_page_finds_jobs_across_queues_with_the_total_and_pages(server, chromium: Pages, viewport):
    width, size = viewport
    # Given jobs of three queues, two publishers under both spellings, two formats, a minute apart
    rows = []
    for n in range(90):
        key = "publisher_id" if n % 3 else "publisherId"
        payload = {key: f"pub-00{n % 2 + 1}", "format": "csv" if n % 4 else "json", "filters": {"country": "US"}}
        queue = ("data-export", "report-generation", "analytics-aggregation")[n % 3]
        rows.append(record(queue, BASE + timedelta(minutes=n), "dead" if n % 7 == 0 else "completed", **payload))
    store(rows)
    page = chromium.open(size)
    sign_in(page, server, ADMIN)

    # When the search page opens from the navigation, Then it shows its form and every job, newest first
    page.click("#nav a[data-nav=search]")
    page.wait_for_selector("#search-form")
    page.wait_for_selector("#search-total:text-is('90')")
    assert shown(page, "#search-results") == newest_first(rows)[:50]

    # When a publisher and a payload field are searched for
    page.fill("#search-publisher", "pub-002")
    page.fill("#search-fields", "format=csv filters.country=US")
    page.click("#search-form button[type=submit]")
    # Then the jobs of that publisher with that field show, from every queue, with their number
    want = newest_first(
        [row for row in rows if "pub-002" in row["payload"].values() and row["payload"]["format"] == "csv"]
    )
    page.wait_for_selector(f"#search-total:text-is('{len(want)}')")
    assert shown(page, "#search-results") == want[:50]
    assert "publisher=pub-002" in page.evaluate("() => location.hash")
    assert page.input_value("#search-fields") == "format=csv filters.country=US"  # the form keeps the search
    shot(page, f"search-{width}")

    # When a time typed without a zone bounds the search, Then it is read in the zone the page shows (UTC)
    page.fill("#search-since", "2026-11-02 09:00")
    page.select_option("#search-state", "dead")
    page.click("#search-form button[type=submit]")
    since = BASE + timedelta(hours=1)
    want = newest_first(
        [
            row
            for row in rows
            if "pub-002" in row["payload"].values()
            and row["payload"]["format"] == "csv"
            and row["state"] == "dead"
            and row["enqueued_at"] >= since
        ]
    )
    page.wait_for_selector(f"#search-total:text-is('{len(want)}')")
    assert shown(page, "#search-results") == want
    assert "2026-11-02 09:00:00 UTC" in page.inner_text("#search-range")

    # When the address names the start of an id, Then that one job shows, whichever queue it is in
    target = rows[41]
    page.goto(server + f"/#/search?id={target['id'][:9]}")
    page.wait_for_selector("#search-total:text-is('1')")
    assert shown(page, "#search-results") == [target["id"]]
    assert page.input_value("#search-id") == target["id"][:9]

    # When every job is searched again and the next page chosen, Then jobs 51-90 show
    page.goto(server + "/#/search")
    page.wait_for_selector("#search-pager[data-total='90'][data-page='1']")
    page.click("#search-pager a[rel=next]")
    page.wait_for_selector("#search-pager[data-page='2']")
    assert page.inner_text("#search-pager .range") == f"51{DASH}90 of 90"
    assert shown(page, "#search-results") == newest_first(rows)[50:]
    assert sideways_overflow(page) <= 0

    # When a criterion cannot be read, Then the form stays and says which parameter is wrong
    page.fill("#search-since", "yesterday")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-error")
    assert "since" in page.inner_text("#search-error")
    assert page.input_value("#search-since") == "yesterday"
    shot(page, f"search-refused-{width}")
