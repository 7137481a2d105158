"""The queue page's top tenants by backlog in Chromium, at desktop and phone width.

Screenshots go to test-artifacts/dashboard/ (`queue-tenants-*`).
"""

from __future__ import annotations

from actors.metrics import calculate_metrics
from runtime import publisher_tiers
from tests.dashboard.pages import ADMIN, BROWSER_TESTS, Pages, api_get, shot, sign_in

pytestmark = BROWSER_TESTS

QUEUE = "metrics-calculation"


def send(publisher: str) -> None:
    calculate_metrics.send(publisher_id=publisher, metric_type="revenue", period="2026-11-30")


def test_the_queue_page_shows_its_tenants_with_the_biggest_backlog_first(server, chromium: Pages, viewport):
    width, size = viewport
    # Given a premium publisher with five metrics jobs waiting and a standard one with one
    publisher_tiers.publish_tier("pub-big", "premium")
    for _ in range(5):
        send("pub-big")
    send("pub-small")
    assert [row["tenant"] for row in api_get(server, f"queues/{QUEUE}/tenants")["tenants"]] == ["pub-big", "pub-small"]
    # When the operator opens the queue's page
    page = chromium.open(size)
    sign_in(page, server, ADMIN)
    page.goto(f"{server}/#/queue/{QUEUE}")
    page.wait_for_selector("#tenants-table")
    # Then the tenants are listed by backlog, each with its tier and its waiting and active jobs
    rows = page.locator("#tenants-table tbody tr")
    assert rows.evaluate_all("rows => rows.map((row) => row.dataset.tenant)") == ["pub-big", "pub-small"]
    big = page.locator('#tenants-table tr[data-tenant="pub-big"]').inner_text()
    assert "premium" in big and "5" in big
    assert "standard" in page.locator('#tenants-table tr[data-tenant="pub-small"]').inner_text()
    assert "2 tenant(s)" in page.locator("#tenants").inner_text()
    # and the page does not scroll sideways, even on a phone
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, f"queue-tenants-{width}")
