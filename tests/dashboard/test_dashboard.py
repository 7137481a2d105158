"""The dashboard in real headless Chromium against `jobsctl api` and a `dramatiq actors` worker.

Screenshots of every page go to test-artifacts/dashboard/.
"""

from __future__ import annotations

from datetime import date

from actors.cleanup import cleanup
from actors.exports import export_data
from control import service
from db.engine import get_engine
from db.events import SeedPlan, seed_events
from tests.dashboard.pages import ADMIN, BROWSER_TESTS, READER, SHOTS, shot, sign_in
from tests.support import processes, store

pytestmark = BROWSER_TESTS


def test_sign_in_counts_pause_retry_and_every_page(server, browser_page):
    page = browser_page

    # Sign in: a wrong token is refused with a message, the admin token opens the queues.
    page.goto(server + "/")
    page.fill("#token", "not-a-token")
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#sign-in-error:has-text('not valid')")
    shot(page, "01-sign-in-refused")
    sign_in(page, server, ADMIN)
    assert page.inner_text("#role") == "admin token"

    # Counts change after jobs are sent, without reloading the page.
    delayed = page.locator("[data-queue=cleanup] [data-count=delayed]")
    assert delayed.inner_text() == "0"
    for _ in range(3):
        cleanup.send_with_options(kwargs={"type": "temp_files", "dry_run": True}, delay=600_000)
    page.wait_for_function(
        "() => document.querySelector('[data-queue=cleanup] [data-count=delayed]').textContent === '3'", timeout=15_000
    )
    shot(page, "02-queues-counts")

    # Pause a queue with its button on the queue page; every worker reads the flag from Redis.
    page.goto(server + "/#/queue/cache-warming")
    page.wait_for_selector("h1:has-text('cache-warming')")
    page.click("button[data-action=pause][data-queue=cache-warming]")
    page.wait_for_selector("#paused-badge")
    assert "cache-warming" in service.paused_queues()
    shot(page, "03-queue-paused")
    page.click("button[data-action=resume][data-queue=cache-warming]")
    page.wait_for_selector("#paused-badge", state="detached")
    assert "cache-warming" not in service.paused_queues()

    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=date(2026, 11, 2), days=1, rows_per_day=2000, publishers=2))
    with processes.worker_process(processes=1, threads=2):
        # A dead job (an export for a publisher that does not exist) is retried from the dead letters.
        dead = export_data.send(publisher_id="pub-404", format="csv", start_date="2026-11-02", end_date="2026-11-02")
        store.wait_for_state(dead.message_id, "dead")
        page.goto(server + "/#/failed")
        row = page.locator(f"#dead-letters tr[data-job='{dead.message_id}']")
        row.wait_for()
        assert "unknown publisher" in row.inner_text()
        shot(page, "04-dead-letters")
        row.locator("button[data-action=retry]").click()
        page.wait_for_selector("#flash .note:has-text('Retrying as')")
        retried = page.inner_text("#flash .note:has-text('Retrying as')").split("Retrying as ")[1].strip()
        assert store.wait_for_state(retried, "dead")["retry_of"] == dead.message_id

        # The job page: state timeline, error and traceback.
        page.goto(server + f"/#/job/data-export/{dead.message_id}")
        page.wait_for_selector("#job-error")
        assert "unknown publisher 'pub-404'" in page.inner_text("#job-error")
        assert "PermanentJobError" in page.inner_text("#view")
        shot(page, "05-job-dead")

        # An export that completes shows up with a download button that gives the CSV.
        good = export_data.send(publisher_id="pub-001", format="csv", start_date="2026-11-02", end_date="2026-11-02")
        store.wait_for_state(good.message_id, "completed")
        page.goto(server + "/#/exports")
        button = page.locator(f"tr[data-export='{good.kwargs['export_id']}'] button[data-action=download]")
        button.wait_for()
        with page.expect_download() as download_info:
            button.click()
        target = SHOTS / "download.csv"
        download_info.value.save_as(str(target))
        assert target.read_text().startswith("bucket_start,") or "publisher_id" in target.read_text().splitlines()[0]
        shot(page, "06-exports")

        # The throughput chart counts the export among the jobs completed this hour (workers add
        # their counts to Redis every second; the page refreshes every 3 s).
        page.goto(server + "/#/")
        page.wait_for_function(  # a function, not a string: the page's CSP forbids eval
            "() => Number(document.querySelector('#throughput')?.dataset.total || 0) >= 1", timeout=15_000
        )
        shot(page, "09-queues-throughput")

    # Schedules: stop and start one with its buttons.
    page.goto(server + "/#/schedules")
    schedule = page.locator("tr[data-schedule=weekly-reports]")
    schedule.locator("button[data-action=schedule-stop]").click()
    schedule.locator(".badge:has-text('stopped')").wait_for()
    shot(page, "07-schedules")
    schedule.locator("button[data-action=schedule-start]").click()
    schedule.locator(".badge:has-text('enabled')").wait_for()  # its switch, not "running": a beat runs it

    page.goto(server + "/#/pipelines")
    page.wait_for_selector("h1:has-text('Pipeline runs')")
    shot(page, "08-pipelines")


def test_the_dashboard_and_the_api_docs_work_under_the_content_security_policy(server, browser_page):
    page = browser_page

    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    # Given the dashboard, served with a policy that allows nothing inline and no framing
    response = page.goto(server + "/")
    assert response is not None
    policy = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
    # When a job page with its progress bar is drawn (widths set from script, not style attributes)
    sign_in(page, server, ADMIN)
    delayed = cleanup.send_with_options(kwargs={"type": "temp_files", "dry_run": True}, delay=600_000)
    page.goto(server + f"/#/job/cleanup/{delayed.message_id}")
    page.wait_for_selector("#job-progress > div", state="attached")
    assert page.eval_on_selector("#job-progress > div", "bar => bar.style.width") == "0%"
    shot(page, "10-job-under-csp")
    # And the API docs are opened, Then Swagger UI draws the API from files of this server alone
    page.goto(server + "/docs")
    page.wait_for_selector(".swagger-ui .info .title:has-text('adjobs admin API')", timeout=20_000)
    page.wait_for_selector(".opblock-summary-path:has-text('/api/v1/queues/metrics')")
    shot(page, "11-api-docs")
    assert requested and all(url.startswith(server) or url.startswith("data:") for url in requested), requested


def test_a_read_token_sees_everything_and_changes_nothing(server, browser_page):
    page = browser_page
    sign_in(page, server, READER)
    assert page.inner_text("#role") == "read token"
    pause = page.locator("[data-queue=cleanup] button[data-action=pause]")
    assert pause.is_disabled()
    page.goto(server + "/#/queue/cleanup")
    page.wait_for_selector("button[data-action=drain]")
    assert page.locator("button[data-action=drain]").is_disabled()
    shot(page, "10-read-only")
    page.click("#sign-out")
    page.wait_for_selector("#sign-in:not([hidden])")
