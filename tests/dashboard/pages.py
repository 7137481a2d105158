"""Helpers of the dashboard's browser tests: the API process, Chromium pages, sign-in and screenshots."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.support.processes import BIN, ROOT

CHROMIUM = "/usr/bin/chromium"
ADMIN = "dashboard-admin-token"
READER = "dashboard-read-token"
SHOTS = ROOT / "test-artifacts" / "dashboard"

#: The two widths every layout test runs at: a laptop and a phone (an iPhone 12-14's CSS pixels).
DESKTOP = {"width": 1360, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}

#: The marks of every browser test module (`pytestmark = BROWSER_TESTS`).
BROWSER_TESTS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Chromium is missing: `make browser` installs Debian's chromium package"
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def api_server(env: dict[str, str] | None = None) -> Iterator[str]:
    """`jobsctl api` on a free port with the two test tokens (and `env` on top); yields its base URL."""
    port = free_port()
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = (SHOTS / "api.log").open("wb")  # uvicorn's access log: a file, never a pipe nobody reads
    process = subprocess.Popen(
        [str(BIN / "jobsctl"), "api", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "API_ADMIN_TOKENS": ADMIN, "API_READ_TOKENS": READER, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (SHOTS / "api.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()


class Pages:
    """Opens pages in one Chromium, each in its own context; records JavaScript errors and CSP violations."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.errors: list[str] = []

    def open(self, viewport: dict[str, int] | None = None, timezone_id: str | None = None) -> Page:
        options: dict[str, Any] = {"viewport": viewport or DESKTOP, "accept_downloads": True}
        if timezone_id:
            options["timezone_id"] = timezone_id
        page = self.browser.new_context(**options).new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        # What the Content-Security-Policy blocks shows only as a console message.
        page.on("console", lambda message: self._console(message.text))
        return page

    def _console(self, text: str) -> None:
        if "Content Security Policy" in text:
            self.errors.append(text)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, url: str, token: str) -> None:
    page.goto(url + "/")
    page.fill("#token", token)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#queues")


def api_get(url: str, path: str, token: str = ADMIN) -> Any:
    """The `data` of an API reply, read with a token."""
    reply = httpx.get(f"{url}/api/v1/{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    reply.raise_for_status()
    return reply.json()["data"]
