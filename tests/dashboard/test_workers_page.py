"""The workers page and the schedules' beat status in Chromium, at desktop and phone width, with real processes.

Two `dramatiq` worker processes, one running a slow job; a `periodiq` beat for the schedules.
Screenshots go to test-artifacts/dashboard/ (`workers-*`, `schedules-beat-*`).
"""

from __future__ import annotations

import re

from playwright.sync_api import Page

from tests.dashboard.pages import ADMIN, BROWSER_TESTS, Pages, api_get, shot, sign_in
from tests.support import busy_workers
from tests.support.busy_workers import send_slow, wait_for

pytestmark = BROWSER_TESTS

#: True once the running job's duration on the page reads at least `least` seconds.
DURATION_AT_LEAST = """([jobId, least]) => {
  const shown = document.querySelector(`.running-job[data-job="${jobId}"] .duration`);
  return shown !== null && parseFloat(shown.textContent.replace("for ", "")) >= least;
}"""


def sideways_overflow(page: Page) -> int:
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def seconds_shown(text: str) -> float:
    """`for 3.4 s` or `for 12 s` as seconds (the job runs less than a minute)."""
    found = re.fullmatch(r"for (\d+(?:\.\d)?) s", text.strip())
    assert found, f"not a duration in seconds: {text!r}"
    return float(found.group(1))


def test_the_workers_page_lists_both_worker_processes_and_the_running_job_with_how_long(
    server, chromium: Pages, viewport
):
    width, size = viewport
    # Given two worker processes, one of them running a slow job
    with busy_workers.two_workers():
        report = wait_for(lambda: api_get(server, "workers"), "two workers", until=lambda r: len(r["workers"]) == 2)
        job_id = send_slow(f"workers-page-{width}", seconds=25)
        # When the signed-in operator opens the workers page
        page = chromium.open(size)
        sign_in(page, server, ADMIN)
        page.click("#nav a[data-nav=workers]")
        page.wait_for_selector(f'.running-job[data-job="{job_id}"]', timeout=30_000)
        # Then both processes are listed, by host and PID
        rows = page.locator("#workers tr[data-worker]")
        assert sorted(rows.evaluate_all("rows => rows.map((row) => row.dataset.worker)")) == sorted(
            worker["id"] for worker in report["workers"]
        )
        for worker in report["workers"]:
            row = page.locator(f'#workers tr[data-worker="{worker["id"]}"]')
            assert worker["host"] in row.inner_text() and f"PID {worker['pid']}" in row.inner_text()
        # and the busy one shows the job (name, queue, a link to it) and how long it has run; the other is idle
        busy = page.locator(f'#workers tr[data-worker]:has(.running-job[data-job="{job_id}"])')
        assert "slow_steps" in busy.inner_text() and "test-jobs" in busy.inner_text()
        assert busy.locator("td[data-busy]").inner_text() == "1"
        assert busy.locator(f'a[href="#/job/test-jobs/{job_id}"]').count() == 1
        first = seconds_shown(busy.locator(".duration").inner_text())
        idle = page.locator("#workers tr[data-worker]:not(:has(.running-job))")
        assert idle.count() == 1 and "idle" in idle.inner_text()
        # and the duration grows as the page refreshes
        page.wait_for_function(DURATION_AT_LEAST, arg=[job_id, first + 3], timeout=15_000)
        # and every time shows its zone; no beat runs, and the page says so
        times = page.locator("#workers time").all_inner_texts()
        assert times and all(shown.endswith(" UTC") for shown in times), times
        assert page.locator("#beats #beat-status").get_attribute("data-beat-alive") == "no"
        assert page.is_visible("#nav a[data-nav=workers].current")
        assert sideways_overflow(page) <= 0, f"the workers page is wider than the {width} window"
        shot(page, f"workers-{width}")


def test_the_schedules_say_enabled_not_running_and_whether_a_beat_runs_them(server, chromium: Pages, viewport):
    width, size = viewport
    # Given no beat
    page = chromium.open(size)
    sign_in(page, server, ADMIN)
    # When the schedules page opens
    page.click("#nav a[data-nav=schedules]")
    page.wait_for_selector("tr[data-schedule]")
    # Then each schedule's switch reads "enabled" (never "running"), and the page says no beat runs them
    states = page.locator("tr[data-schedule] td:nth-child(3)").all_inner_texts()
    assert states and set(states) == {"enabled"}, states
    assert "running" not in page.inner_text("#view table").lower()
    assert page.get_attribute("#beat-status", "data-beat-alive") == "no"
    assert "no beat running" in page.inner_text("#beat-status")
    assert "the dispatcher has never run" in page.inner_text("#beat-status")
    assert "periodiq actors schedules" in page.inner_text("#view")
    shot(page, f"schedules-beat-none-{width}")

    # When a beat starts, with a worker that runs the dispatcher it sends
    with busy_workers.two_workers(count=1), busy_workers.beat():
        wait_for(
            lambda: api_get(server, "workers")["scheduler"],
            "beat and dispatcher run",
            timeout=90,
            until=lambda scheduler: scheduler["beatAlive"] and scheduler["lastDispatch"],
        )
        # Then the schedules page says a beat is alive and when the dispatcher last ran, with its zone
        page.wait_for_selector("#beat-status[data-beat-alive=yes]", timeout=15_000)
        assert "beat alive" in page.inner_text("#beat-status")
        assert re.search(r"dispatcher last ran \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page.inner_text("#beat-status"))
        shot(page, f"schedules-beat-alive-{width}")
        # and the workers page lists the beat with its last tick
        page.click("#nav a[data-nav=workers]")
        page.wait_for_selector("#beats tr[data-beat] time")
        assert page.locator("#beats tr[data-beat]").count() == 1
        assert sideways_overflow(page) <= 0
        shot(page, f"workers-beat-{width}")
