"""The API's one error mapping, end to end: an error of each kind raised in a route answers its kind's status."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

import errors
from api.app import create_app
from brokers.operations import BrokerOperationUnsupported
from core.redis_sentinel import diagnose

#: kind -> (status, `error.code`, whether the client reads the error's own message).
ANSWERS = {
    errors.NotFound: (404, "not_found", True),
    errors.InvalidInput: (422, "invalid_request", True),
    errors.Conflict: (409, "invalid_state", True),
    errors.Unauthorized: (401, "unauthorized", True),
    errors.Forbidden: (403, "forbidden", True),
    errors.ServiceUnavailable: (503, "unavailable", True),
    errors.Misconfigured: (500, "misconfigured", False),
    errors.JobsError: (500, "internal_error", False),
    # A subclass registered nowhere: its kind's status, its own code.
    BrokerOperationUnsupported: (409, "unsupported_by_broker", True),
}
PROBE = "/api/v1/test-errors/{kind}"


@pytest.fixture(scope="module")
def probed_client(api_app: FastAPI) -> Iterator[TestClient]:
    """A second instance of the real app (same handlers, same middleware) with one route raising a chosen error."""
    app = create_app()

    def raise_error(kind: str) -> None:
        error_class = next(error_class for error_class in ANSWERS if error_class.__name__ == kind)
        if error_class is BrokerOperationUnsupported:
            raise BrokerOperationUnsupported("RabbitMQ", "drain prefetched jobs", "probe")
        raise error_class(f"probe {kind}")

    app.add_api_route(PROBE, raise_error, methods=["GET"], include_in_schema=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("kind", list(ANSWERS), ids=lambda kind: kind.__name__)
def test_an_error_of_each_kind_raised_in_a_route_answers_its_kinds_status_in_the_envelope(probed_client, kind):
    # Given a route of the real app raising an error of this kind
    status, code, shows_message = ANSWERS[kind]
    # When it is called
    reply = probed_client.get(PROBE.format(kind=kind.__name__))
    # Then the envelope carries the kind's status and code, and the security headers
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    message = body["error"]["message"]
    if shows_message:
        assert "probe" in message
    else:  # a 500 of ours tells the client nothing of its cause: it is in the log
        assert "probe" not in message and "logged" in message
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert ("www-authenticate" in reply.headers) is (kind is errors.Unauthorized)


SENTINEL_PROBE = "/api/v1/test-sentinel-errors/{which}"
#: Sentinels and a primary name an API client must never read.
SENTINELS = [("10.1.2.3", 26379), ("10.1.2.4", 26379)]


@pytest.fixture(scope="module")
def sentinel_client(api_app: FastAPI) -> Iterator[TestClient]:
    """The real app with one route raising the Sentinels' set-up errors as `core.redis_sentinel` makes them."""
    app = create_app()

    def raise_sentinel_error(which: str) -> None:
        if which == "unreachable":
            answers: list[Any] = [redis.ConnectionError("Error 111 connecting to 10.1.2.3:26379. Connection refused.")]
        else:
            answers = [{"payments-primary": {}}]
        mistake = diagnose("adjobs", SENTINELS, answers)
        assert mistake is not None
        raise mistake

    app.add_api_route(SENTINEL_PROBE, raise_sentinel_error, methods=["GET"], include_in_schema=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("which", ["unreachable", "unknown-master"])
def test_a_sentinel_set_up_error_answers_503_without_naming_sentinels_or_primaries(sentinel_client, which, caplog):
    # Given a route that meets Sentinels that do not answer, or that monitor no primary of that name
    # When it is called
    with caplog.at_level(logging.WARNING, logger="api.errors"):
        reply = sentinel_client.get(SENTINEL_PROBE.format(which=which))
    # Then the client reads 503 and that Redis cannot be reached, nothing of the Sentinels' hosts or the names
    assert reply.status_code == 503, reply.text
    body = reply.json()
    assert body["error"] == {"code": "unavailable", "message": "Redis cannot be reached; try again shortly"}
    assert "10.1.2.3" not in reply.text and "payments-primary" not in reply.text and "26379" not in reply.text
    # And the log keeps the detail for the operator
    assert "10.1.2.3:26379" in caplog.text
