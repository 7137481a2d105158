"""Redis down, PostgreSQL up, in Chromium at desktop and phone width: the dashboard degrades panel by panel.

Sign-in with a token of the `api_tokens` table (PostgreSQL) works; each panel that needs Redis says
"Redis unreachable", the others (the job store's failed jobs, pipeline runs) draw. The API runs with
REDIS_URL on a port where nothing listens. Screenshots go to test-artifacts/dashboard/ (`redis-down-*`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page
from sqlalchemy import insert

from db import pipelines
from db.engine import get_engine
from db.models import ApiToken
from tests.dashboard.pages import BROWSER_TESTS, Pages, api_server, free_port, shot

pytestmark = BROWSER_TESTS

#: An admin token kept only in the api_tokens table, as `jobsctl tokens create` makes them.
TABLE_TOKEN = "dashboard-table-token-redis-down"


@pytest.fixture
def redis_down_server() -> Iterator[str]:
    """`jobsctl api` whose REDIS_URL (and so its broker) points at a closed port; PostgreSQL as usual."""
    with api_server(env={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}) as url:
        yield url


def unreachable_panels(page: Page) -> list[tuple[str, str]]:
    """(panel, server) of every panel that says its server is unreachable."""
    return [
        tuple(pair)
        for pair in page.eval_on_selector_all(
            ".card.unreachable", "cards => cards.map((card) => [card.dataset.panel, card.dataset.server])"
        )
    ]


def test_with_redis_down_sign_in_works_and_each_panel_says_redis_is_unreachable(
    redis_down_server, chromium: Pages, viewport
):
    width, size = viewport
    # Given a token that lives in PostgreSQL, a pipeline run in the job store, and an API that cannot reach Redis
    with get_engine().begin() as connection:
        connection.execute(
            insert(ApiToken).values(
                id=str(uuid.uuid4()),
                name="redis-down",
                role="admin",
                token_sha256=hashlib.sha256(TABLE_TOKEN.encode()).hexdigest(),
            )
        )
        run_id = str(uuid.uuid4())
        pipelines.create_run(connection, run_id, "daily", {"day": "2026-11-30"}, ["aggregate", "metrics"])
    page = chromium.open(size)

    # When the operator signs in with it
    page.goto(redis_down_server + "/")
    page.fill("#token", TABLE_TOKEN)
    page.click("#sign-in-form button[type=submit]")
    # Then the dashboard opens (no sign-in error), and the queues page's two panels each say Redis is unreachable
    page.wait_for_selector("#nav:not([hidden])")
    page.wait_for_selector(".card.unreachable[data-panel=queues]", timeout=30_000)
    assert page.inner_text("#sign-in-error") == ""
    assert sorted(unreachable_panels(page)) == [("queues", "Redis"), ("throughput", "Redis")]
    assert page.inner_text(".card.unreachable[data-panel=queues] h2") == "Queue counts"
    assert page.locator(".card.unreachable .server-away").all_inner_texts() == ["Redis unreachable"] * 2
    assert page.locator("#view h1").inner_text() == "Queues"
    # and the health badge names the server that is away
    page.wait_for_function("() => document.querySelector('#health').textContent === 'Redis unreachable'")
    shot(page, f"redis-down-queues-{width}")

    # When the failed page opens, Then the dead letters (Redis) say so and the failed jobs (PostgreSQL) draw
    page.click("#nav a[data-nav=failed]")
    page.wait_for_selector(".card.unreachable[data-panel=dead-letters]", timeout=30_000)
    assert unreachable_panels(page) == [("dead-letters", "Redis")]
    assert page.is_visible("#view h2:has-text('Failed, retry pending')")
    shot(page, f"redis-down-failed-{width}")

    # When the workers and schedules pages open, Then each says Redis is unreachable, under its own title
    for nav, panel, title in (("workers", "workers", "Workers"), ("schedules", "schedules", "Schedules")):
        page.click(f"#nav a[data-nav={nav}]")
        page.wait_for_selector(f".card.unreachable[data-panel={panel}]", timeout=30_000)
        assert page.locator("#view h1").inner_text() == title
        assert unreachable_panels(page) == [(panel, "Redis")]

    # When the pipelines page opens, Then the run kept in PostgreSQL is listed: nothing there needs Redis
    page.click("#nav a[data-nav=pipelines]")
    page.wait_for_selector(f'a[href="#/pipeline/{run_id}"]', timeout=30_000)
    assert unreachable_panels(page) == []
    shot(page, f"redis-down-pipelines-{width}")
