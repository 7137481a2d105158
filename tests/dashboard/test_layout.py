"""The dashboard's frame in Chromium, at desktop and phone width: sign-in page, bad addresses, navigation, favicon.

Screenshots go to test-artifacts/dashboard/ (`layout-*`).
"""

from __future__ import annotations

from playwright.sync_api import Page

from actors.cleanup import cleanup
from tests.dashboard.pages import ADMIN, BROWSER_TESTS, Pages, shot, sign_in

pytestmark = BROWSER_TESTS

#: Addresses no view answers: a broken percent escape, unknown names, empty parts, markup.
BAD_HASHES = [
    "#/queues/%E0%A4%A",
    "#/queue/%E0%A4%A",
    "#/jobs/",
    "#//",
    "#/job/",
    "#/job/cleanup",
    "#/queue/cleanup/not-a-state",
    "#/failed/extra",
    "#/queues/<script>alert(1)</script>",
]


def sideways_overflow(page: Page) -> int:
    """How many CSS pixels the document is wider than the window (0 when nothing scrolls sideways)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def nav_links_outside(page: Page) -> list[str]:
    """The navigation links not wholly inside the window, by label."""
    return list(
        page.eval_on_selector_all(
            "#nav a",
            """links => links.filter((a) => {
                 const box = a.getBoundingClientRect();
                 return box.width === 0 || box.left < 0 || box.right > window.innerWidth;
               }).map((a) => a.textContent)""",
        )
    )


def test_the_signed_out_page_shows_the_sign_in_form_and_no_navigation(server, chromium: Pages, viewport):
    width, size = viewport
    # Given a browser that has never signed in
    page = chromium.open(size)
    # When the dashboard opens
    page.goto(server + "/")
    page.wait_for_selector("#sign-in:not([hidden])")
    # Then only the sign-in form shows: no navigation, no session badges, no time switch, no refresh line
    assert page.is_visible("#sign-in-form")
    for hidden in ("#nav", "#session", "#time-zone", "#status"):
        assert not page.is_visible(hidden), f"{hidden} shows on the signed-out page"
    assert page.eval_on_selector("#nav", "nav => getComputedStyle(nav).display") == "none"
    assert sideways_overflow(page) <= 0
    shot(page, f"layout-signed-out-{width}")

    # When the admin signs in, Then the navigation shows; and when they sign out, it is hidden again
    sign_in(page, server, ADMIN)
    assert page.is_visible("#nav") and page.is_visible("#session")
    page.click("#sign-out")
    page.wait_for_selector("#sign-in:not([hidden])")
    assert not page.is_visible("#nav") and not page.is_visible("#session")


def test_a_malformed_or_unknown_address_shows_not_found_and_the_navigation_still_works(
    server, chromium: Pages, viewport
):
    width, size = viewport
    # Given a signed-in dashboard
    page = chromium.open(size)
    sign_in(page, server, ADMIN)
    for number, bad in enumerate(BAD_HASHES):
        # When the address changes to one no view answers
        page.goto(server + "/" + bad)
        # Then a "not found" panel shows, with the address escaped (no markup from it runs or renders)
        panel = page.locator("#not-found")
        panel.wait_for(timeout=5_000)
        assert "Not found" in panel.inner_text(), bad
        assert page.locator("#view script").count() == 0
        if number == 0:
            shot(page, f"layout-not-found-{width}")
        if "<script>" in bad:
            assert "<script>alert(1)</script>" in panel.inner_text()
        # And the navigation still draws other views
        page.click("#nav a[data-nav=failed]")
        page.wait_for_selector("#view h1:has-text('Failed & dead')", timeout=5_000)
        assert page.locator("#nav a.current").inner_text() == "Failed & dead"
    # And the panel's own link leads back to the queues
    page.goto(server + "/#//")
    page.click("#not-found a[href='#/']")
    page.wait_for_selector("#queues")


def test_no_page_scrolls_sideways_and_every_navigation_link_is_on_screen(server, chromium: Pages, viewport):
    width, size = viewport
    # Given a signed-in dashboard and a job with a page of its own
    page = chromium.open(size)
    sign_in(page, server, ADMIN)
    job = cleanup.send_with_options(kwargs={"type": "temp_files", "dry_run": True}, delay=600_000)
    pages = {  # name: (address, what shows once its view is drawn)
        "queues": ("#/", "#queues"),
        "queue": ("#/queue/cleanup", "#view h1:text-is('cleanup')"),
        "job": (f"#/job/cleanup/{job.message_id}", "#job-progress"),
        "failed": ("#/failed", "#dead-letters"),
        "workers": ("#/workers", "#workers"),
        "schedules": ("#/schedules", "tr[data-schedule]"),
        "pipelines": ("#/pipelines", "#view h1:text-is('Pipeline runs')"),
        "exports": ("#/exports", "#view h1:text-is('Exports')"),
    }
    for name, (where, drawn) in pages.items():
        # When each page is drawn
        page.goto(server + "/" + where)
        page.wait_for_selector(drawn)
        # Then the document is no wider than the window (wide tables scroll inside their card)
        assert sideways_overflow(page) <= 0, f"{where} is wider than the {width} window"
        # And every navigation link is inside the window, the navigation wrapping rather than overflowing
        assert nav_links_outside(page) == [], where
        assert page.eval_on_selector("#nav", "nav => nav.scrollWidth <= nav.clientWidth"), where
        shot(page, f"layout-{name}-{width}")


def test_the_page_links_a_favicon_that_the_server_serves_and_the_browser_draws(server, chromium: Pages):
    # Given the dashboard's page
    page = chromium.open()
    page.goto(server + "/")
    # When its icon link is followed
    href = page.eval_on_selector("link[rel=icon]", "link => link.href")
    reply = page.request.get(href)
    # Then the server sends an SVG image
    assert reply.status == 200, href
    assert reply.headers["content-type"].startswith("image/svg+xml")
    assert reply.text().lstrip().startswith("<svg")
    # And the browser draws it under the page's Content-Security-Policy
    size = page.evaluate(
        "async (href) => { const img = new Image(); img.src = href; await img.decode(); return img.naturalWidth; }",
        href,
    )
    assert size > 0
