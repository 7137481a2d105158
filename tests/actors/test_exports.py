"""export_data: files read back with pandas equal pandas over the raw rows; bad input is refused."""

from __future__ import annotations

import io
import json
import uuid
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from actors._base import InvalidPayload
from actors.exports import export_data
from db import exports
from db.engine import get_engine
from db.events import SeedPlan, seed_events
from db.exports import ExportSpec, UnsafeExportPath
from db.rollups import upsert_rollups
from tests.support import store
from tests.support.analytics import event_frame, expected_rollups

START = date(2026, 11, 2)
PUBLISHER = "pub-002"


@pytest.fixture
def events() -> pd.DataFrame:
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=START, days=3, rows_per_day=6000, publishers=4))
        for granularity in ("hour", "day"):
            upsert_rollups(connection, granularity, START, date(2026, 11, 4))
    return event_frame()


def run_export(**kwargs: object) -> dict:
    message = export_data.send(**kwargs)
    done = store.wait_for_state(message.message_id, "completed", "dead")
    return done | {"export_id": message.kwargs["export_id"]}


def exported(export_id: str) -> dict:
    with get_engine().connect() as connection:
        return exports.get_export(connection, export_id)


def read_back(path: str, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    elif fmt == "jsonl":
        frame = pd.read_json(path, lines=True, dtype=False)
    else:
        frame = pd.DataFrame(json.loads(Path(path).read_text()))
    for column in ("ts", "bucket_start"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_raw_events_with_filters_equal_pandas(events, worker, fmt):
    done = run_export(
        publisher_id=PUBLISHER,
        format=fmt,
        start_date="2026-11-03",
        end_date="2026-11-04",
        granularity="raw",
        filters={"country": ["US", "GB"], "device": "mobile"},
    )
    assert done["state"] == "completed", done["error"]
    record = exported(done["export_id"])
    expected = events[
        (events["publisher_id"] == PUBLISHER)
        & (events["ts"] >= pd.Timestamp("2026-11-03", tz="UTC"))
        & events["country"].isin(["US", "GB"])
        & (events["device"] == "mobile")
    ]
    assert len(expected) > 100
    assert record["status"] == "completed" and record["row_count"] == len(expected)
    assert Path(record["file_path"]).parent == exports.export_dir()
    assert record["bytes"] == Path(record["file_path"]).stat().st_size

    got = read_back(record["file_path"], fmt).sort_values(["ts", "ad_unit_id", "country", "device"])
    want = expected.sort_values(["ts", "ad_unit_id", "country", "device"])
    assert list(got["ts"]) == list(want["ts"])
    for column in ("ad_unit_id", "country", "device", "impressions", "clicks"):
        assert list(got[column]) == list(want[column]), column
    assert got["revenue"].astype(float).sum() == pytest.approx(want["revenue"].sum())


def test_daily_rollups_and_on_the_fly_rollups_for_a_country(events, worker):
    whole = run_export(publisher_id=PUBLISHER, format="csv", start_date="2026-11-02", end_date="2026-11-04")
    assert whole["state"] == "completed", whole["error"]
    got = read_back(exported(whole["export_id"])["file_path"], "csv")
    want = expected_rollups(events[events["publisher_id"] == PUBLISHER], "day")
    assert len(got) == len(want) == 3 * 5
    assert list(got["impressions"]) == list(want["impressions"])
    assert list(got["ecpm"]) == pytest.approx(list(want["ecpm"]))

    de = run_export(
        publisher_id=PUBLISHER,
        format="jsonl",
        start_date="2026-11-02",
        end_date="2026-11-04",
        filters={"country": "DE"},
    )
    assert de["state"] == "completed", de["error"]
    got = read_back(exported(de["export_id"])["file_path"], "jsonl")
    subset = events[(events["publisher_id"] == PUBLISHER) & (events["country"] == "DE")]
    want = expected_rollups(subset, "day")
    assert list(got["clicks"]) == list(want["clicks"])
    assert list(got["ctr"]) == pytest.approx(list(want["ctr"]))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_copy_and_pandas_paths_write_the_same_rows(events, fmt):
    spec = ExportSpec(
        publisher_id=PUBLISHER, format=fmt, start_date=START, end_date=date(2026, 11, 4), granularity="hour"
    )
    outputs = {}
    with get_engine().connect() as connection:
        for method in ("copy", "pandas"):
            buffer = io.BytesIO()
            writer = exports.stream_copy if method == "copy" else exports.stream_pandas
            rows = writer(connection, spec, buffer)
            outputs[method] = (rows, buffer.getvalue())
    hourly = expected_rollups(events[events["publisher_id"] == PUBLISHER], "hour")
    assert outputs["copy"][0] == outputs["pandas"][0] == len(hourly) > 300
    frames = {}
    for method, (_, data) in outputs.items():
        text = data.decode()
        assert "\r" not in text
        if fmt == "csv":
            assert (
                text.splitlines()[0]
                == "bucket_start,publisher_id,ad_unit_id,ad_requests,impressions,clicks,revenue,ctr,fill_rate,ecpm"
            )
        path = Path(f"/tmp/adjobs-export-{uuid.uuid4()}.{fmt}")
        path.write_bytes(data)
        frames[method] = read_back(str(path), fmt)
        path.unlink()
    pd.testing.assert_frame_equal(frames["copy"], frames["pandas"], check_dtype=False)


def test_a_rerun_writes_the_same_file(events, worker):
    export_id = str(uuid.uuid4())
    first = run_export(
        export_id=export_id,
        publisher_id=PUBLISHER,
        format="csv",
        start_date="2026-11-02",
        end_date="2026-11-02",
        granularity="hour",
    )
    assert first["state"] == "completed", first["error"]
    content = Path(exported(export_id)["file_path"]).read_bytes()
    with get_engine().begin() as connection:
        exports.set_status(connection, export_id, "processing")  # as if the worker died before finishing
    second = run_export(
        export_id=export_id,
        publisher_id=PUBLISHER,
        format="csv",
        start_date="2026-11-02",
        end_date="2026-11-02",
        granularity="hour",
    )
    assert second["state"] == "completed"
    assert Path(exported(export_id)["file_path"]).read_bytes() == content
    assert not list(exports.export_dir().glob(f"{export_id}*.part"))


def test_unknown_publisher_goes_dead_and_the_export_reads_failed(events, worker):
    done = run_export(publisher_id="pub-999", format="csv", start_date="2026-11-02", end_date="2026-11-02")
    assert done["state"] == "dead" and done["attempts"] == 1
    assert "unknown publisher 'pub-999'" in done["error"]
    record = exported(done["export_id"])
    assert record["status"] == "failed" and "pub-999" in record["error"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"end_date": "2026-11-01"}, "end_date"),
        ({"format": "xml"}, "format"),
        ({"granularity": "year"}, "granularity"),
        ({"filters": {"country": "US'; DROP TABLE ad_events; --"}}, "filters.country"),
        ({"filters": {"browser": "chrome"}}, "filters.browser"),
        ({"export_id": "../../etc/passwd"}, "export_id"),
    ],
)
def test_bad_payloads_are_refused_at_send(payload, field):
    base = {"publisher_id": PUBLISHER, "format": "csv", "start_date": "2026-11-02", "end_date": "2026-11-03"}
    with pytest.raises(InvalidPayload) as refused:
        export_data.send(**(base | payload))
    assert field.split(".")[0] in str(refused.value)


def test_file_names_cannot_leave_the_export_directory():
    for bad in ("../x", "/etc/passwd", "..", ""):
        with pytest.raises(UnsafeExportPath):
            exports.export_path(bad, "csv")
    assert exports.downloadable_path("/etc/passwd") is None
    assert exports.downloadable_path(str(exports.export_dir() / ".." / "x.csv")) is None
