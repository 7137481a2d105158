"""Alerts: one notice when a threshold is crossed and one when it recovers, however many monitors run."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from observability import alerts
from runtime import heartbeats, metrics_recorder
from scheduling import state
from settings import load_settings
from tests.observability.receivers import http_receiver, sentry_events, webhook_posts
from tests.support import store
from tests.support.sample_actors import echo


@pytest.fixture
def calm() -> None:
    """A live worker and a fresh beat tick, so only the condition a test makes can alert."""
    heartbeats.beat("test-host:1", {"queues": ["*"], "threads": 1})
    state.record_dispatch(datetime.now(UTC))


def test_the_webhook_receives_one_alert_when_crossed_and_one_when_recovered(calm, broker):
    with http_receiver() as (url, received):
        settings = load_settings(alert_webhook_url=f"{url}/hooks/alerts", alert_waiting_threshold=2)
        # Given three jobs waiting with no worker, over a threshold of two
        sent = [echo.send(value=i) for i in range(3)]
        store.wait_for_state(sent[-1].message_id, "waiting")
        # When the monitor runs three times
        runs = [alerts.run_monitor(settings) for _ in range(3)]
        # Then one alert was sent, and it says what and where
        assert runs[0] == {"started": ["waiting:test-jobs"], "recovered": []}
        assert runs[1] == runs[2] == {"started": [], "recovered": []}
        assert received.wait_for(lambda r: len(webhook_posts(r)) >= 1, timeout=5)
        [alert] = webhook_posts(received)
        assert alert["alert"] == "waiting:test-jobs" and alert["status"] == "firing"
        assert alert["queue"] == "test-jobs" and alert["value"] == 3 and alert["threshold"] == 2
        assert received.snapshot()[0][0] == "/hooks/alerts"
        # When the queue drains and the monitor runs again, twice
        broker.flush("test-jobs")
        _forget_jobs()
        recoveries = [alerts.run_monitor(settings) for _ in range(2)]
        # Then one recovery was sent, and nothing more
        assert recoveries[0] == {"started": [], "recovered": ["waiting:test-jobs"]}
        assert recoveries[1] == {"started": [], "recovered": []}
        time.sleep(0.3)
        posts = webhook_posts(received)
    assert [(post["alert"], post["status"]) for post in posts] == [
        ("waiting:test-jobs", "firing"),
        ("waiting:test-jobs", "resolved"),
    ]
    assert alerts.firing() == {}


def test_several_monitors_at_once_send_each_notice_once(calm):
    with http_receiver() as (url, received):
        settings = load_settings(alert_webhook_url=url, alert_waiting_threshold=0)
        echo.send(value=1)
        results: list[dict] = []
        barrier = threading.Barrier(5)

        def monitor() -> None:
            barrier.wait()
            results.append(alerts.run_monitor(settings))

        threads = [threading.Thread(target=monitor) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(0.3)
        assert sum(len(result["started"]) for result in results) == 1
        assert len(webhook_posts(received)) == 1


def test_failure_rate_over_the_last_hour_alerts(calm):
    # Given an hour in which 30 jobs of a queue completed and 10 died
    for _ in range(30):
        metrics_recorder.record_job("report-generation", "generate_report", "completed", 0.1)
    for _ in range(10):
        metrics_recorder.record_job("report-generation", "generate_report", "dead", 0.1)
    assert metrics_recorder.flush()
    # When the monitor runs with a 10 % threshold
    settings = load_settings(alert_failure_rate=0.10, alert_failure_rate_min_jobs=20)
    found = {alert.key: alert for alert in alerts.evaluate(settings)}
    # Then the queue's failure rate alerts, at 25 %
    assert found["failure_rate:report-generation"].value == 0.25
    # and below the minimum of finished jobs it does not
    assert "failure_rate:report-generation" not in {
        a.key for a in alerts.evaluate(load_settings(alert_failure_rate_min_jobs=50))
    }


def test_missed_schedule_ticks_a_stale_beat_and_no_workers_alert(redis_client):
    # Given a beat last seen ten minutes ago, a missed tick, and no worker heartbeat
    state.record_dispatch(datetime.now(UTC) - timedelta(minutes=10))
    now = datetime.now(UTC)
    state.record_missed("hourly-metrics", now - timedelta(hours=2), now - timedelta(hours=1), 2, "beat down")
    # When the monitor looks
    keys = {alert.key for alert in alerts.evaluate(load_settings())}
    # Then each is an alert
    assert {"scheduler_stale", "schedule_missed:hourly-metrics", "no_workers"} <= keys
    # and a worker consuming only one queue leaves the others without
    heartbeats.beat("test-host:2", {"queues": ["data-export"], "threads": 1})
    keys = {alert.key for alert in alerts.evaluate(load_settings())}
    assert "no_workers" not in keys and "no_workers:report-generation" in keys and "no_workers:data-export" not in keys


def test_queue_thresholds_each_alert(calm):
    # Given jobs waiting, delayed and dead
    echo.send(value=1)
    delayed = echo.send_with_options(kwargs={"value": 2}, delay=3_600_000)
    store.wait_for_state(delayed.message_id, "delayed")
    settings = load_settings(alert_waiting_threshold=0, alert_delayed_threshold=0, alert_failed_threshold=100)
    keys = {alert.key for alert in alerts.evaluate(settings)}
    assert {"waiting:test-jobs", "delayed:test-jobs"} <= keys
    assert "failed:test-jobs" not in keys and "active:test-jobs" not in keys


def test_an_alert_reaches_sentry_as_a_message():
    import sentry_sdk

    with http_receiver() as (url, received):
        dsn = url.replace("http://", "http://public@") + "/1"
        # Given Sentry on (in this process only for the test), and an alert
        sentry_sdk.init(dsn=dsn, default_integrations=False)
        try:
            alert = alerts.Alert(
                "waiting:data-export", "waiting", "queue data-export: 12 jobs waiting", 12, 10, "data-export"
            )
            alerts.notify(load_settings(), alert, "firing", None)
        finally:
            sentry_sdk.flush(5)
            sentry_sdk.get_client().close()
            sentry_sdk.get_global_scope().set_client(None)
        assert not sentry_sdk.get_client().is_active()
        events = sentry_events(received)
    # Then Sentry got it as a warning message, tagged
    [event] = events
    assert event["level"] == "warning"
    assert "Alert firing: queue data-export: 12 jobs waiting" in str(event.get("message") or event.get("logentry"))
    assert event["tags"]["alert"] == "waiting:data-export" and event["tags"]["queue"] == "data-export"


def test_a_webhook_that_fails_does_not_stop_the_monitor(calm, caplog):
    settings = load_settings(alert_webhook_url="http://127.0.0.1:1/down", alert_waiting_threshold=0)
    echo.send(value=1)
    result = alerts.run_monitor(settings)
    assert result["started"] == ["waiting:test-jobs"]
    # the log names the webhook by its origin only: its path and query may hold its secret
    assert "Alert webhook http://127.0.0.1:1 failed" in caplog.text and "/down" not in caplog.text


def _forget_jobs() -> None:
    from sqlalchemy import text

    from db.engine import get_engine

    with get_engine().begin() as connection:
        connection.execute(text("DELETE FROM jobs WHERE queue = 'test-jobs'"))


def test_the_periodic_monitor_actor_checks_thresholds_and_prunes(calm, worker):
    from actors.monitor import monitor
    from settings import use_settings

    # Given the monitor declared for periodiq, and a queue over its delayed threshold
    assert monitor.options.get("periodic") is not None and monitor.queue_name == "monitor"
    delayed = echo.send_with_options(kwargs={"value": 1}, delay=3_600_000)
    store.wait_for_state(delayed.message_id, "delayed")
    use_settings(load_settings(alert_delayed_threshold=0))
    try:
        # When a worker runs the monitor
        message = monitor.send()
        done = store.wait_for_state(message.message_id, "completed", "dead")
    finally:
        use_settings(None)
    # Then it found the crossing, and said what it did
    assert done["state"] == "completed", done["error"]
    assert done["result"]["started"] == ["delayed:test-jobs"]
    assert done["result"]["deadLettersPruned"] == 0
    assert "delayed:test-jobs" in alerts.firing()
