"""Fixtures of the dashboard's browser tests: the API process and headless Chromium (Debian's, not Playwright's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.dashboard.pages import CHROMIUM, SHOTS, VIEWPORTS, Pages, api_server


@pytest.fixture
def server() -> Iterator[str]:
    """The base URL of a `jobsctl api` process that knows the test tokens."""
    with api_server() as url:
        yield url


@pytest.fixture
def chromium() -> Iterator[Pages]:
    """Headless Chromium; the test fails if any page it opened had a JavaScript error or a CSP violation."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pages = Pages(browser)
        yield pages
        browser.close()
    assert not pages.errors, f"JavaScript errors or CSP violations on the page: {pages.errors}"


@pytest.fixture
def browser_page(chromium: Pages) -> Page:
    """One desktop-width page."""
    return chromium.open()


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> tuple[str, dict[str, int]]:
    """Each of the two widths, by name: ("desktop", {...}) and ("phone", {...})."""
    return request.param, VIEWPORTS[request.param]
