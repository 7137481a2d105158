"""The history card in Chromium, at desktop and phone width: 1h | 24h | 7d, and the points it draws.

Jobs finished at known minutes go into the job store and are rolled up as the monitor would; the
page's points carry their time and values (data attributes), checked against what went in.
Screenshots go to test-artifacts/dashboard/ (`history-*`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page

from db import jobstore, queue_history
from db.engine import get_engine
from db.history_figures import Depth
from tests.dashboard.pages import BROWSER_TESTS, READER, Pages, shot, sign_in

pytestmark = BROWSER_TESTS

QUEUE = "data-export"
NOW = datetime.now(UTC)
#: Two hours ago, at the start of a quarter hour: the jobs of the 24 h view.
RECENT = NOW.replace(minute=NOW.minute - NOW.minute % 15, second=0, microsecond=0) - timedelta(hours=2)
#: Three days ago, on the hour: jobs only the 7 d view reaches.
OLDER = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
RECENT_MS = [120.0, 80.0, 95.5, 300.0]
OLDER_MS = [40.0, 42.0, 41.0]


def _finished(state: str, at: datetime, duration_ms: float | None = None) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "queue": QUEUE,
        "actor": "export_data",
        "state": state,
        "seq": jobstore.seq_for(state, 0),
        "payload": {},
        "attempts": 1,
        "max_attempts": 3,
        "priority": 5,
        "progress": 100,
        "enqueued_at": at - timedelta(seconds=1),
        "finished_at": at,
        "duration_ms": duration_ms,
    }


def _history() -> None:
    """Jobs at the two known times and two depth samples after RECENT, rolled up."""
    rows = [_finished("completed", RECENT + timedelta(minutes=3, seconds=i), ms) for i, ms in enumerate(RECENT_MS)]
    rows.append(_finished("dead", RECENT + timedelta(minutes=3, seconds=30)))
    rows += [_finished("completed", OLDER + timedelta(minutes=10, seconds=i), ms) for i, ms in enumerate(OLDER_MS)]
    with get_engine().begin() as connection:
        jobstore.upsert_jobs(connection, rows)
        for start, depth in ((RECENT, 6), (RECENT + timedelta(minutes=30), 2)):
            sample = {QUEUE: Depth(depth, 0, 0)}
            queue_history.roll_up(
                connection, start, start + timedelta(minutes=5), depths=sample, sampled_at=start + timedelta(minutes=4)
            )
        queue_history.roll_up(connection, OLDER, OLDER + timedelta(minutes=15))


def _point(page: Page, chart: str, at: datetime) -> dict[str, str]:
    return page.eval_on_selector(f'#{chart} .pt[data-at="{at.isoformat()}"]', "(el) => ({ ...el.dataset })")


def _drawn(page: Page, chart: str) -> tuple[int, int]:
    svg = page.locator(f"#{chart} svg")
    return int(svg.get_attribute("data-points") or 0), page.locator(f"#{chart} .pt").count()


def _choose(page: Page, span: str) -> None:
    page.click(f'#history button[data-history-range="{span}"]')
    page.wait_for_selector(f'#history[data-range="{span}"]')


def sideways_overflow(page: Page) -> int:
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def test_the_queue_page_switches_between_24_hours_and_7_days_and_draws_each_point(server, chromium: Pages, viewport):
    width, size = viewport
    # Given jobs of data-export two hours and three days ago, and two depth samples, rolled up
    _history()
    page = chromium.open(size)
    sign_in(page, server, READER)
    # When the queue's page opens (24 h is the default range)
    page.goto(server + f"/#/queue/{QUEUE}")
    page.wait_for_selector(f'#history[data-range="24h"][data-queue="{QUEUE}"]')
    # Then the throughput has 96 points, the quarter hour of the recent jobs holding 4 completed and 1 failed
    assert _drawn(page, "history-throughput") == (96, 96)
    assert _point(page, "history-throughput", RECENT) == {"at": RECENT.isoformat(), "completed": "4", "failed": "1"}
    assert (
        sum(
            int(n)
            for n in page.locator("#history-throughput .pt").evaluate_all("els => els.map((e) => e.dataset.completed)")
        )
        == 4
    )
    # and the p95 of that quarter is the slowest of its four durations (the 95th percentile of 4 values)
    assert _drawn(page, "history-p95") == (96, 1)
    assert float(_point(page, "history-p95", RECENT)["value"]) == max(RECENT_MS)
    # and the depth has a marker per sample: the quarters of the two samples
    assert _drawn(page, "history-depth") == (96, 2)
    assert _point(page, "history-depth", RECENT)["value"] == "6"
    assert _point(page, "history-depth", RECENT + timedelta(minutes=30))["value"] == "2"
    # and the axis times carry their zone
    axis = page.locator("#history-throughput .axis span").all_inner_texts()
    assert len(axis) == 2 and all(text.endswith(" UTC") for text in axis), axis
    assert sideways_overflow(page) <= 0, f"the queue page is wider than the {width} window"
    shot(page, f"history-queue-24h-{width}")

    # When 7 d is chosen
    _choose(page, "7d")
    # Then there are 168 hourly points: the hour three days ago holds the older jobs, its p95 among their durations
    assert _drawn(page, "history-throughput") == (168, 168)
    recent_hour = RECENT.replace(minute=0)
    assert _point(page, "history-throughput", OLDER)["completed"] == "3"
    assert _point(page, "history-throughput", recent_hour) == {
        "at": recent_hour.isoformat(),
        "completed": "4",
        "failed": "1",
    }
    assert float(_point(page, "history-p95", OLDER)["value"]) == max(OLDER_MS)
    assert page.get_attribute('#history button[data-history-range="7d"]', "aria-pressed") == "true"
    assert sideways_overflow(page) <= 0
    shot(page, f"history-queue-7d-{width}")

    # When 24 h is chosen again, Then the 96 points are back
    _choose(page, "24h")
    assert _drawn(page, "history-throughput") == (96, 96)


def test_the_queues_page_shows_every_queue_summed_and_keeps_the_chosen_range(server, chromium: Pages, viewport):
    width, size = viewport
    # Given the same history
    _history()
    page = chromium.open(size)
    sign_in(page, server, READER)
    page.wait_for_selector('#history[data-range="24h"]')
    # When 1 h is chosen on the queues page
    assert page.get_attribute("#history", "data-queue") == ""
    _choose(page, "1h")
    # Then it has 60 minute points and none of the older jobs (nothing ran in the last hour)
    assert _drawn(page, "history-throughput") == (60, 60)
    assert _drawn(page, "history-p95") == (60, 0)
    assert "no samples yet" in page.inner_text("#history-p95")
    # When the 24 h range is chosen, Then the sum of every queue holds the recent jobs
    _choose(page, "24h")
    assert _point(page, "history-throughput", RECENT)["completed"] == "4"
    shot(page, f"history-queues-24h-{width}")
    # and after a reload the chosen range stays
    page.reload()
    page.wait_for_selector('#history[data-range="24h"]')
    _choose(page, "7d")
    page.reload()
    page.wait_for_selector('#history[data-range="7d"]')
    assert sideways_overflow(page) <= 0
