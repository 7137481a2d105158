"""Times on the dashboard, in Chromium at desktop and phone width: each with its zone, and the UTC / local switch.

The browser runs in New York's zone, so local times differ from UTC; screenshots go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Page

from actors.cleanup import cleanup
from tests.dashboard.pages import ADMIN, BROWSER_TESTS, Pages, api_get, shot, sign_in
from tests.support import store

pytestmark = BROWSER_TESTS

ZONE = "America/New_York"

#: A clock time as the page may show it, with the zone after it when there is one.
CLOCK = re.compile(r"\d{2}:\d{2}(?::\d{2})?(?: UTC| [+-]\d{2}:\d{2})?")


def in_utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def in_new_york(at: datetime) -> str:
    local = at.astimezone(ZoneInfo(ZONE))
    return local.strftime("%Y-%m-%d %H:%M:%S ") + local.isoformat()[-6:]  # "... -05:00" in winter, "-04:00" in summer


def clocks_without(page: Page, zone: str) -> list[str]:
    """The clock times in the view and the footer that do not end with the given zone."""
    text = page.inner_text("#view") + "\n" + page.inner_text("footer")
    return [clock for clock in CLOCK.findall(text) if not clock.endswith(" " + zone)]


def test_every_time_shows_its_zone_and_the_switch_shows_utc_or_local_and_is_kept(server, chromium: Pages, viewport):
    width, size = viewport
    # Given a delayed job, and a browser whose own zone is New York's
    job = cleanup.send_with_options(kwargs={"type": "temp_files", "dry_run": True}, delay=600_000)
    store.wait_for_state(job.message_id, "delayed")  # the store's buffer writes the record a moment later
    record = api_get(server, f"queues/cleanup/jobs/{job.message_id}")
    enqueued, run_at = datetime.fromisoformat(record["enqueuedAt"]), datetime.fromisoformat(record["runAt"])
    offset = in_new_york(enqueued)[-6:]
    page = chromium.open(size, timezone_id=ZONE)
    sign_in(page, server, ADMIN)

    # When its page opens, Then its times are in UTC (the default), each with its zone
    page.goto(server + f"/#/job/cleanup/{job.message_id}")
    page.wait_for_selector(f"#view time:text-is('{in_utc(enqueued)}')")
    assert in_utc(run_at) in page.inner_text("#view")
    assert page.get_attribute("#time-zone [data-zone=utc]", "aria-pressed") == "true"
    assert clocks_without(page, "UTC") == []
    shot(page, f"time-utc-{width}")

    # When Local is chosen in the header, Then the same page is drawn again in New York's time with its offset
    page.click("#time-zone [data-zone=local]")
    page.wait_for_selector(f"#view time:text-is('{in_new_york(enqueued)}')")
    assert in_new_york(run_at) in page.inner_text("#view")
    assert page.get_attribute("#time-zone [data-zone=local]", "aria-pressed") == "true"
    page.wait_for_function("(offset) => document.querySelector('#updated').textContent.endsWith(offset)", arg=offset)
    assert clocks_without(page, offset) == []
    shot(page, f"time-local-{width}")

    # When the page is loaded again, Then the choice is kept, on every page (the schedules' next runs too)
    page.reload()
    page.wait_for_selector(f"#view time:text-is('{in_new_york(enqueued)}')")
    assert page.evaluate("() => localStorage.getItem('adjobs.timeZone')") == "local"
    page.click("#nav a[data-nav=schedules]")
    page.wait_for_selector("tr[data-schedule] time")
    assert clocks_without(page, offset) == []
    shot(page, f"time-local-schedules-{width}")

    # When UTC is chosen again, Then the times are UTC again
    page.click("#time-zone [data-zone=utc]")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#view time')].every((time) => time.textContent.endsWith(' UTC'))"
    )
    page.goto(server + f"/#/job/cleanup/{job.message_id}")
    page.wait_for_selector(f"#view time:text-is('{in_utc(enqueued)}')")
    assert clocks_without(page, "UTC") == []
