"""Sentry gets one event per job out of retries, tagged, scrubbed, with earlier attempts as breadcrumbs.

The DSN points at a local HTTP server that receives the SDK's real envelopes from a real
`dramatiq` worker process; nothing in the SDK is replaced.
"""

from __future__ import annotations

import json

from tests.observability.observed_actors import leaky, refuses_secretly
from tests.observability.receivers import envelopes_with_events, http_receiver, sentry_events
from tests.observability.workers import dramatiq_worker
from tests.support import store

SECRET_TOKEN = "tok-5f1e0c9a-never-leaves"
SECRET_PASSWORD = "pw-hunter2-never-leaves"


def _events_for(events: list[dict], job_id: str) -> list[dict]:
    return [event for event in events if event.get("tags", {}).get("message_id") == job_id]


def test_a_job_failing_three_times_sends_exactly_one_scrubbed_tagged_event_with_earlier_attempts():
    with http_receiver() as (url, received):
        dsn = url.replace("http://", "http://public@") + "/1"
        with dramatiq_worker(env={"SENTRY_DSN": dsn, "SENTRY_ENVIRONMENT": "test"}) as worker:
            worker.wait_ready()
            # Given a job that fails all three attempts, one refused outright, and one that recovers
            dead = leaky.send_with_options(
                kwargs={"key": "dies", "api_token": SECRET_TOKEN, "password": SECRET_PASSWORD},
                pipeline_id="run-42",
            )
            permanent = refuses_secretly.send(key="never", api_token=SECRET_TOKEN, password=SECRET_PASSWORD)
            recovers = leaky.send(key="recovers", api_token=SECRET_TOKEN, password=SECRET_PASSWORD, fail_times=2)
            # When the worker has run them all
            assert store.wait_for_state(dead.message_id, "dead", timeout=60)["attempts"] == 3
            assert store.wait_for_state(permanent.message_id, "dead", timeout=60)["attempts"] == 1
            assert store.wait_for_state(recovers.message_id, "completed", timeout=60)["attempts"] == 3
            assert received.wait_for(lambda r: len(sentry_events(r)) >= 2, timeout=30), worker.output()[-3000:]
            assert worker.terminate() == 0  # flushes anything the SDK still holds
        events = sentry_events(received)

    # Then exactly one envelope per dead job carries an event, and none for the job that recovered
    assert envelopes_with_events(received) == 2, [(e.get("tags"), e.get("logger"), e.get("logentry")) for e in events]
    assert len(_events_for(events, dead.message_id)) == 1
    assert len(_events_for(events, permanent.message_id)) == 1
    assert _events_for(events, recovers.message_id) == []

    # and the event of the job out of retries is tagged and carries the payload, scrubbed
    event = _events_for(events, dead.message_id)[0]
    assert event["environment"] == "test"
    assert event["tags"]["queue"] == "test-observability"
    assert event["tags"]["actor"] == "leaky"
    assert event["tags"]["attempts"] == "3"
    assert event["tags"]["pipeline_id"] == "run-42"
    assert "leaky failure 3" in event["exception"]["values"][-1]["value"]
    payload = event["contexts"]["job"]["payload"]
    assert payload["key"] == "dies"
    assert payload["api_token"] == "[Filtered]" and payload["password"] == "[Filtered]"
    # and the earlier attempts are breadcrumbs
    crumbs = [crumb for crumb in event["breadcrumbs"]["values"] if crumb.get("category") == "job.attempt"]
    assert [crumb["data"]["attempt"] for crumb in crumbs] == [1, 2]
    assert "leaky failure 1" in crumbs[0]["message"] and "leaky failure 2" in crumbs[1]["message"]

    # and no secret reached the server anywhere, in any envelope (frames' local variables included)
    for _path, _headers, body in received.snapshot():
        for secret in (SECRET_TOKEN.encode(), SECRET_PASSWORD.encode()):
            at = body.find(secret)
            assert at == -1, body[max(0, at - 300) : at + 100]
    assert (
        json.dumps(_events_for(events, permanent.message_id)[0]["contexts"]["job"]["payload"]).count("[Filtered]") == 2
    )


def test_without_a_dsn_sentry_is_off_and_failures_are_still_recorded(broker, worker):
    import sentry_sdk

    from settings import get_settings
    from wiring.sentry import init_sentry

    # Given no SENTRY_DSN
    assert init_sentry(get_settings()) is False
    assert not sentry_sdk.get_client().is_active()
    # When a job fails for good
    message = leaky.send(key="quiet", api_token="t", password="p")
    dead = store.wait_for_state(message.message_id, "dead")
    # Then it is dead as usual, its attempts carried on the message, and nothing complained
    assert dead["attempts"] == 3 and "leaky failure 3" in dead["error"]
