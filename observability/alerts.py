"""Alerts: thresholds checked by the periodic monitor, one notice when crossed and one when recovered.

`evaluate()` turns a look at the queues, workers and beat into the set of conditions that
hold now; `run_monitor()` compares it with the alerts firing in Redis. A new condition is
claimed with HSETNX and a recovered one with HDEL, so however many monitors run at once,
exactly one of them sends each notice: to the log, to ALERT_WEBHOOK_URL as a JSON POST, and to
Sentry as a message.

Redis key (prefix `adjobs:`): `alerts:firing`, a hash of alert key → JSON of the alert.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from pydantic import SecretStr

from control import dead_letters
from core import redis_client
from core.scrub import scrub, url_origin
from observability import queue_state
from runtime import heartbeats, metrics_recorder
from scheduling import state
from settings import QUEUE_NAMES, Settings, get_settings
from telemetry import sentry_events
from telemetry.logs import configure_logging

logger = logging.getLogger(__name__)

FIRING_KEY = redis_client.PREFIX + "alerts:firing"


@dataclass(frozen=True)
class Alert:
    """A condition that holds now: `key` names it (`waiting:data-export`), `rule` its kind."""

    key: str
    rule: str
    message: str
    value: float | None = None
    threshold: float | None = None
    queue: str | None = None


# Conditions ----------------------------------------------------------------------------


def _queue_alerts(settings: Settings, snapshot: queue_state.Snapshot) -> list[Alert]:
    alerts = []
    limits = (
        ("failed", settings.alert_failed_threshold, lambda s: s["failed"] + s["dead"]),
        ("waiting", settings.alert_waiting_threshold, lambda s: s["waiting"]),
        ("delayed", settings.alert_delayed_threshold, lambda s: s["delayed"]),
        ("active", settings.alert_active_threshold, lambda s: s["active"]),
    )
    for queue, figures in snapshot.queues.items():
        for rule, threshold, count in limits:
            value = count(figures.store)
            if value > threshold:
                message = f"queue {queue}: {value} jobs {rule} (threshold {threshold})"
                alerts.append(Alert(f"{rule}:{queue}", rule, message, value, threshold, queue))
        if settings.alert_paused_queues and figures.paused:
            alerts.append(Alert(f"paused:{queue}", "paused", f"queue {queue} is paused", 1, None, queue))
    return alerts


def _failure_rate_alerts(settings: Settings) -> list[Alert]:
    alerts = []
    for queue, counts in metrics_recorder.outcomes_since(3600).items():
        finished = counts.get("completed", 0) + counts.get("dead", 0)
        if finished < settings.alert_failure_rate_min_jobs:
            continue
        rate = counts.get("dead", 0) / finished
        if rate > settings.alert_failure_rate:
            message = (
                f"queue {queue}: {rate:.0%} of {finished} jobs failed in the last hour"
                f" (threshold {settings.alert_failure_rate:.0%})"
            )
            alerts.append(
                Alert(
                    f"failure_rate:{queue}", "failure_rate", message, round(rate, 4), settings.alert_failure_rate, queue
                )
            )
    return alerts


def _schedule_alerts(settings: Settings, now: float) -> list[Alert]:
    alerts = []
    last = state.last_dispatch()
    age = None if last is None else now - last.timestamp()
    if age is None or age > settings.scheduler_max_age:
        message = (
            "no beat has dispatched the schedules yet"
            if age is None
            else f"no beat has dispatched the schedules for {age:.0f} s (threshold {settings.scheduler_max_age} s)"
        )
        alerts.append(Alert("scheduler_stale", "scheduler_stale", message, age, settings.scheduler_max_age))
    missed: dict[str, int] = {}
    for entry in state.missed(limit=state.MISSED_KEPT):
        at = datetime.fromisoformat(entry["at"]).timestamp()
        if now - at <= settings.alert_missed_window:
            missed[entry["schedule"]] = missed.get(entry["schedule"], 0) + int(entry.get("count", 1))
    for schedule, count in sorted(missed.items()):
        message = f"schedule {schedule}: {count} ticks missed in the last {settings.alert_missed_window} s"
        alerts.append(Alert(f"schedule_missed:{schedule}", "schedule_missed", message, count, 0))
    return alerts


def _worker_alerts(settings: Settings) -> list[Alert]:
    workers = heartbeats.alive()
    if not workers:
        message = f"no worker heartbeat in the last {settings.worker_heartbeat_timeout:.0f} s"
        return [Alert("no_workers", "no_workers", message, 0, 1)]
    consumed = {queue for worker in workers for queue in worker.get("queues", ["*"])}
    if "*" in consumed:
        return []
    return [
        Alert(f"no_workers:{queue}", "no_workers", f"queue {queue}: no live worker consumes it", 0, 1, queue)
        for queue in QUEUE_NAMES
        if queue not in consumed
    ]


def evaluate(settings: Settings | None = None, now: float | None = None) -> list[Alert]:
    """Every condition that holds now."""
    settings = settings or get_settings()
    now = time.time() if now is None else now
    snapshot = queue_state.snapshot()
    return [
        *_queue_alerts(settings, snapshot),
        *_failure_rate_alerts(settings),
        *_schedule_alerts(settings, now),
        *_worker_alerts(settings),
    ]


# State and notices ---------------------------------------------------------------------


def firing() -> dict[str, dict[str, Any]]:
    """Alerts firing now, by key."""
    return {key.decode(): json.loads(raw) for key, raw in redis_client.client().hgetall(FIRING_KEY).items()}


def run_monitor(settings: Settings | None = None, now: float | None = None) -> dict[str, list[str]]:
    """Check every threshold once; notify what started and what recovered. Returns their keys."""
    settings = settings or get_settings()
    now = time.time() if now is None else now
    current = {alert.key: alert for alert in evaluate(settings, now)}
    client = redis_client.client()
    started, recovered = [], []
    for key, alert in current.items():
        record = {**asdict(alert), "since": datetime.fromtimestamp(now, UTC).isoformat()}
        if client.hsetnx(FIRING_KEY, key, json.dumps(record)):
            started.append(key)
            notify(settings, alert, "firing", record["since"])
    for key, raw in client.hgetall(FIRING_KEY).items():
        name = key.decode()
        if name in current:
            continue
        if client.hdel(FIRING_KEY, name):
            recovered.append(name)
            known = json.loads(raw)
            alert = Alert(
                name,
                known["rule"],
                f"recovered: {known['message']}",
                None,
                known.get("threshold"),
                known.get("queue"),
            )
            notify(settings, alert, "resolved", known.get("since"))
    return {"started": started, "recovered": recovered}


def notify(settings: Settings, alert: Alert, status: str, since: str | None) -> None:
    """Log it, POST it to ALERT_WEBHOOK_URL, send it to Sentry; a failing channel never stops the others."""
    payload = scrub(
        {
            "alert": alert.key,
            "rule": alert.rule,
            "status": status,
            "message": alert.message,
            "queue": alert.queue,
            "value": alert.value,
            "threshold": alert.threshold,
            "since": since,
            "at": datetime.now(UTC).isoformat(),
            "environment": settings.sentry_environment,
        }
    )
    level = logging.WARNING if status == "firing" else logging.INFO
    logger.log(level, "Alert %s: %s", status, alert.message, extra={"alert": payload})
    if settings.alert_webhook_url:
        _post_webhook(settings.alert_webhook_url, payload, settings.alert_webhook_timeout)
    _to_sentry(payload, status)


def _to_sentry(payload: dict[str, Any], status: str) -> None:
    if not sentry_events.enabled():
        return
    import sentry_sdk  # heavy: loaded only where Sentry is on (`wiring.sentry.init_sentry`)

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("alert", payload["alert"])
        scope.set_tag("alert_status", status)
        if payload.get("queue"):
            scope.set_tag("queue", payload["queue"])
        scope.set_context("alert", payload)
        sentry_sdk.capture_message(
            f"Alert {status}: {payload['message']}", level="warning" if status == "firing" else "info"
        )


def _post_webhook(url: SecretStr, payload: dict[str, Any], timeout: float) -> None:
    """POST the alert; a failure is logged with the webhook's origin only (its path and query are secret)."""
    import httpx  # heavy (about 0.1 s): loaded when a webhook is set and an alert changes, not with the actors

    try:
        response = httpx.post(url.get_secret_value(), json=payload, timeout=timeout)
    except httpx.HTTPError as error:  # its text names the URL: the type says enough
        logger.error("Alert webhook %s failed: %s", url_origin(url.get_secret_value()), type(error).__name__)
        return
    if response.is_error:
        logger.error("Alert webhook %s answered %s", url_origin(url.get_secret_value()), response.status_code)


def run_forever() -> None:
    """The monitor as a process of its own (`python -m observability.alerts`), on MONITOR_INTERVAL.

    The `monitor` actor does the same inside the workers; this one still alerts when no
    worker runs at all.
    """
    settings = get_settings()
    configure_logging(settings)
    ticks = croniter(settings.monitor_interval, datetime.now(UTC))
    while True:
        time.sleep(max(0.0, ticks.get_next(float) - time.time()))
        try:
            run_monitor(settings)
            dead_letters.prune()
        except Exception:
            logger.exception("Monitor: this check failed; the next one runs on schedule.")


if __name__ == "__main__":
    run_forever()
