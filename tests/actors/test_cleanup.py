"""cleanup: each type removes exactly what the retention rules name, dry runs remove nothing."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from actors.cleanup import cleanup
from core.payloads import InvalidPayload
from db.engine import get_engine
from db.models import ApiToken, Export, JobRecord
from settings import get_settings, load_settings, use_settings
from tests.support import store

NOW = datetime.now(UTC)


def run(**kwargs: object) -> dict:
    done = store.wait_for_state(cleanup.send(**kwargs).message_id, "completed", "dead")
    assert done["state"] == "completed", done["error"]
    return done["result"]


def job_row(queue: str, state: str, finished_ago: timedelta | None) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "queue": queue,
        "actor": "echo",
        "state": state,
        "seq": 3,
        "priority": 5,
        "payload": {},
        "attempts": 1,
        "max_attempts": 3,
        "enqueued_at": NOW - timedelta(days=30),
        "finished_at": None if finished_ago is None else NOW - finished_ago,
    }


def test_job_records_follow_the_retention_rules(worker):
    rows = [
        *(job_row("analytics-aggregation", "completed", timedelta(minutes=i)) for i in range(1005)),
        job_row("data-export", "completed", timedelta(hours=25)),
        job_row("data-export", "completed", timedelta(hours=23)),
        job_row("data-export", "cancelled", timedelta(hours=30)),
        job_row("data-export", "dead", timedelta(days=8)),
        job_row("data-export", "dead", timedelta(days=6)),
        job_row("data-export", "failed", timedelta(days=7, hours=1)),
        job_row("data-export", "active", None),
        job_row("data-export", "waiting", None),
    ]
    # Independently: the 5 oldest of the 1,005 recent ones (over the cap), then the old ones.
    expected = {row["id"] for row in rows[1000:1005]} | {rows[i]["id"] for i in (1005, 1007, 1008, 1010)}
    with get_engine().begin() as connection:
        connection.execute(insert(JobRecord), rows)

    dry = run(type="job_records", dry_run=True)
    assert dry["removed"] == len(expected) and dry["dry_run"] is True
    with get_engine().connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM jobs WHERE actor = 'echo'")).scalar_one() == len(rows)

    result = run(type="job_records", dry_run=False)
    assert result["removed"] == len(expected)
    with get_engine().connect() as connection:
        left = set(connection.execute(select(JobRecord.id).where(JobRecord.actor == "echo")).scalars())
    assert left == {row["id"] for row in rows} - expected

    # older_than replaces the ages: with 1h, every finished record older than an hour goes
    # (the 23h completed, the 6d dead, and minutes 60..999 of the recent ones).
    assert run(type="job_records", older_than="1h")["removed"] == 2 + 940


def test_expired_tokens_are_removed(worker):
    tokens = [
        {
            "id": str(uuid.uuid4()),
            "name": name,
            "role": "read",
            "token_sha256": hashlib.sha256(name.encode()).hexdigest(),
            "expires_at": expires,
        }
        for name, expires in (("old", NOW - timedelta(days=2)), ("fresh", NOW + timedelta(days=2)), ("forever", None))
    ]
    with get_engine().begin() as connection:
        connection.execute(insert(ApiToken), tokens)
    assert run(type="expired_tokens", dry_run=True)["removed"] == 1
    assert run(type="expired_tokens", older_than="3d")["removed"] == 0
    result = run(type="expired_tokens")
    assert result["removed"] == 1 and result["sample"] == [tokens[0]["id"]]
    with get_engine().connect() as connection:
        assert set(connection.execute(select(ApiToken.name)).scalars()) == {"fresh", "forever"}


def _file(path: Path, age: timedelta, size: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = (NOW - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_temp_files_remove_old_exports_and_stale_parts(worker):
    export_dir = get_settings().export_dir.resolve()
    old_id, new_id = str(uuid.uuid4()), str(uuid.uuid4())
    old = _file(export_dir / f"{old_id}.csv", timedelta(days=8), size=1234)
    new = _file(export_dir / f"{new_id}.csv", timedelta(days=1))
    stale = _file(export_dir / f"{uuid.uuid4()}.json.part", timedelta(hours=2))
    writing = _file(export_dir / f"{uuid.uuid4()}.json.part", timedelta(minutes=1))
    with get_engine().begin() as connection:
        for export_id, path in ((old_id, old), (new_id, new)):
            connection.execute(
                insert(Export).values(
                    id=export_id,
                    publisher_id="pub-001",
                    format="csv",
                    start_date=NOW.date(),
                    end_date=NOW.date(),
                    filters={},
                    status="completed",
                    file_path=str(path),
                )
            )
    assert run(type="temp_files", dry_run=True)["removed"] == 2 and old.exists() and stale.exists()
    result = run(type="temp_files")
    assert result["removed"] == 2 and result["bytes"] == 1234 + 100
    assert not old.exists() and not stale.exists() and new.exists() and writing.exists()
    with get_engine().connect() as connection:
        paths = dict(connection.execute(select(Export.id, Export.file_path)).all())
    assert paths == {old_id: None, new_id: str(new)}
    for path in (new, writing):
        path.unlink()


@pytest.fixture
def log_dir(tmp_path: Path) -> Iterator[Path]:
    previous = get_settings()
    use_settings(load_settings(log_dir=tmp_path / "log"))
    yield tmp_path / "log"
    use_settings(previous)


def test_old_logs_remove_only_old_log_files(worker, log_dir):
    old = [
        _file(log_dir / "worker.log.3", timedelta(days=40)),
        _file(log_dir / "api" / "api.log.1.gz", timedelta(days=31)),
    ]
    kept = [
        _file(log_dir / "worker.log", timedelta(hours=1)),
        _file(log_dir / "notes.txt", timedelta(days=90)),
        _file(log_dir / "worker.log.2", timedelta(days=10)),
    ]
    result = run(type="old_logs")
    assert result["removed"] == 2 and sorted(result["sample"]) == ["api/api.log.1.gz", "worker.log.3"]
    assert not any(path.exists() for path in old) and all(path.exists() for path in kept)
    assert run(type="old_logs", older_than="7d", dry_run=True)["removed"] == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"type": "everything"}, "type"), ({"type": "old_logs", "older_than": "30 days"}, "older_than")],
)
def test_bad_payloads_are_refused_at_send(payload, field):
    with pytest.raises(InvalidPayload) as refused:
        cleanup.send(**payload)
    assert field in str(refused.value)


#: Every partition of ad_events with the upper bound of its range, as the catalog has them.
PARTITION_BOUNDS = """
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'ad_events'::regclass
"""
EVENTS_BEFORE = "SELECT count(*) FROM ad_events WHERE ts < :before"
EVENTS_FROM = "SELECT count(*) FROM ad_events WHERE ts >= :before"
EVENT = """
INSERT INTO ad_events (ts, publisher_id, ad_unit_id, country, device, ad_requests, impressions, clicks, revenue)
VALUES (:ts, 'pub-old', 'unit-1', 'US', 'mobile', 3, 2, 1, 0.25)
"""


def _partition_ends() -> dict[str, datetime | None]:
    """Each partition's exclusive upper bound (None for the default partition), read from its bounds."""
    with get_engine().connect() as connection:
        rows = connection.execute(text(PARTITION_BOUNDS)).all()
    return {
        name: None if bound == "DEFAULT" else datetime.fromisoformat(bound.split("TO ('")[1].split("')")[0])
        for name, bound in rows
    }


def _count(query: str, before: datetime) -> int:
    with get_engine().connect() as connection:
        return connection.execute(text(query), {"before": before}).scalar_one()


def test_old_events_drop_only_the_days_past_retention(worker):
    # Given events on days around the 400-day retention: some with a day partition, some (a day
    # without one) in the default partition
    from db.partitions import ensure_partitions

    today = NOW.date()
    partitioned = [today - timedelta(days=d) for d in (501, 401, 400, 399, 30)]
    unpartitioned = [today - timedelta(days=d) for d in (453, 203)]
    with get_engine().begin() as connection:
        for day in partitioned:
            ensure_partitions(connection, day, day)
        for day in partitioned + unpartitioned:
            for hour in (0, 13, 23):
                connection.execute(text(EVENT), {"ts": datetime(day.year, day.month, day.day, hour, tzinfo=UTC)})
        placed = connection.execute(text("SELECT DISTINCT tableoid::regclass::text FROM ad_events")).scalars()
        assert "ad_events_default" in set(placed)
    # Independently: the cutoff is the start of the day 400 days ago; every partition whose range
    # ends by then goes, and every event before it
    cutoff = datetime.combine(today - timedelta(days=400), datetime.min.time(), tzinfo=UTC)
    ends = _partition_ends()
    doomed = {name for name, end in ends.items() if end is not None and end <= cutoff}
    old_rows, kept_rows = _count(EVENTS_BEFORE, cutoff), _count(EVENTS_FROM, cutoff)
    assert len(doomed) >= 2 and old_rows == 3 * 3 and kept_rows >= 4 * 3

    # When a dry run counts them
    dry = run(type="old_events", dry_run=True)
    # Then it reports them and removes nothing
    assert (dry["removed"], dry["rows"], dry["dry_run"]) == (len(doomed), old_rows, True)
    assert dry["before"] == cutoff.date().isoformat() and dry["partitions_made"] == []
    assert _partition_ends() == ends and _count(EVENTS_BEFORE, cutoff) == old_rows

    # When it runs for real
    result = run(type="old_events")
    # Then exactly those partitions and events are gone, the rest is untouched, and today's and
    # the next 7 days' partitions exist
    assert (result["removed"], result["rows"]) == (len(doomed), old_rows)
    after = _partition_ends()
    assert set(after) == (set(ends) - doomed) | set(result["partitions_made"])
    assert _count(EVENTS_BEFORE, cutoff) == 0 and _count(EVENTS_FROM, cutoff) == kept_rows
    ahead = {f"ad_events_{today + timedelta(days=i):%Y%m%d}" for i in range(8)}
    assert ahead <= set(after)

    # And older_than replaces the retention: 300 days reaches the partitions of 399 and 400 days
    # ago, not the default partition's events of 203 days ago
    cutoff_300 = datetime.combine(today - timedelta(days=300), datetime.min.time(), tzinfo=UTC)
    younger = {name for name, end in after.items() if end is not None and end <= cutoff_300}
    dry_300 = run(type="old_events", older_than="300d", dry_run=True)
    assert (dry_300["removed"], dry_300["rows"]) == (len(younger), _count(EVENTS_BEFORE, cutoff_300))
    assert dry_300["rows"] == 2 * 3
