"""The real app (FastAPI) on the session's Redis and PostgreSQL, with one admin and one read token."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

ADMIN_TOKEN = "admin-token-for-tests"
READ_TOKEN = "read-token-for-tests"


@functools.cache
def build_app() -> FastAPI:
    """The app with the test tokens configured; built once (schemathesis loads it at collection).

    The imports are here, not at the top: pytest imports this conftest before `tests/conftest.py`'s
    `pytest_configure` has set the session's servers in the environment, and importing the app
    declares every actor, which reads the settings and makes the broker.
    """
    from settings import load_settings, use_settings

    os.environ["API_ADMIN_TOKENS"] = ADMIN_TOKEN
    os.environ["API_READ_TOKENS"] = f"{READ_TOKEN},another-read-token"
    use_settings(load_settings())
    import tests.support.sample_actors  # noqa: F401  (queue test-jobs for the job tests)
    from api.app import create_app

    return create_app()


@pytest.fixture(scope="session")
def api_app() -> FastAPI:
    return build_app()


@pytest.fixture
def client(api_app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(api_app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def reader() -> dict[str, str]:
    return {"Authorization": f"Bearer {READ_TOKEN}"}
