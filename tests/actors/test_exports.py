"""export_data: files read back with pandas equal pandas over the raw rows; bad input is refused;
CSV cells are safe in spreadsheets and both writing paths give the same bytes; no export file can
be written through a planted symlink or by another export's job."""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from actors.exports import ExportIdTaken, export_data, request_export
from core.payloads import InvalidPayload
from db import export_files
from db.engine import get_engine
from db.events import SeedPlan, seed_events
from db.export_files import ExportSpec, UnsafeExportPath
from db.rollups import upsert_rollups
from tests.support import store
from tests.support.analytics import event_frame, expected_rollups
from tests.support.hostile import ESCAPED, HOSTILE, HUGE_UNIT, insert_hostile_events, rows_of

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
        return export_files.get_export(connection, export_id)


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
    assert Path(record["file_path"]).parent == export_files.export_dir()
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
            writer = export_files.stream_copy if method == "copy" else export_files.stream_pandas
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


def wait_for_export(export_id: str, status: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while (record := exported(export_id))["status"] != status:
        assert time.monotonic() < deadline, record
        time.sleep(0.05)
    return record


def test_a_redelivery_of_the_same_job_writes_the_same_file(events, worker):
    # Given a completed export whose worker (as if it died before finishing) left it processing
    export_id = str(uuid.uuid4())
    message = export_data.send(
        export_id=export_id,
        publisher_id=PUBLISHER,
        format="csv",
        start_date="2026-11-02",
        end_date="2026-11-02",
        granularity="hour",
    )
    assert store.wait_for_state(message.message_id, "completed", "dead")["state"] == "completed"
    content = Path(exported(export_id)["file_path"]).read_bytes()
    with get_engine().begin() as connection:
        export_files.set_status(connection, export_id, "processing")
    # When the broker delivers the same message again
    export_data.broker.enqueue(message)
    # Then it completes again with the same file, and no temporary file is left
    record = wait_for_export(export_id, "completed")
    assert record["job_id"] == message.message_id
    assert Path(record["file_path"]).read_bytes() == content
    assert not list(export_files.export_dir().glob(f"{export_id}*.part"))


def test_another_job_cannot_reuse_an_export_id(events, worker):
    # Given a completed export of one publisher
    first = run_export(publisher_id=PUBLISHER, format="csv", start_date="2026-11-02", end_date="2026-11-02")
    assert first["state"] == "completed", first["error"]
    before = exported(first["export_id"])
    content = Path(before["file_path"]).read_bytes()
    # When another job names its export id, for other rows
    reused = run_export(
        export_id=first["export_id"],
        publisher_id="pub-001",
        format="csv",
        start_date="2026-11-02",
        end_date="2026-11-04",
    )
    # Then that job is refused at once with the reason, and the export and its file are untouched
    assert reused["state"] == "dead" and reused["attempts"] == 1
    assert f"export {first['export_id']} exists already" in reused["error"]
    assert exported(first["export_id"]) == before
    assert Path(before["file_path"]).read_bytes() == content
    # And starting an export under that id (the API's and jobsctl's path) is refused, naming the field
    with pytest.raises(ExportIdTaken, match="export_id") as refused:
        request_export(
            {
                "export_id": first["export_id"],
                "publisherId": "pub-001",
                "format": "csv",
                "startDate": "2026-11-02",
                "endDate": "2026-11-02",
            }
        )
    assert isinstance(refused.value, InvalidPayload)
    assert exported(first["export_id"]) == before


def test_an_export_is_never_written_through_a_planted_symlink(events, worker, tmp_path):
    # Given symlinks planted under the names an export's files would have, pointing outside
    export_id = str(uuid.uuid4())
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    final = export_files.export_dir() / f"{export_id}.csv"
    for planted in (final.with_name(final.name + ".part"), final):
        os.symlink(victim, planted)
    # When the export runs
    done = run_export(
        export_id=export_id, publisher_id=PUBLISHER, format="csv", start_date="2026-11-02", end_date="2026-11-02"
    )
    # Then the file outside is untouched and the export's file is a regular file in EXPORT_DIR
    assert done["state"] == "completed", done["error"]
    assert victim.read_text() == "keep me"
    assert final.is_file() and not final.is_symlink()
    assert final.read_bytes().startswith(b"bucket_start,publisher_id,ad_unit_id")


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
            export_files.export_path(bad, "csv")
    assert export_files.downloadable_path("/etc/passwd") is None
    assert export_files.downloadable_path(str(export_files.export_dir() / ".." / "x.csv")) is None


@pytest.fixture
def hostile(events) -> None:
    """The seeded events plus one event per hostile text value on 2026-11-03, and their rollups."""
    with get_engine().begin() as connection:
        insert_hostile_events(connection, PUBLISHER, date(2026, 11, 3))
        for granularity in ("hour", "day"):
            upsert_rollups(connection, granularity, START, date(2026, 11, 4))


def both_paths(spec: ExportSpec) -> dict[str, bytes]:
    outputs = {}
    with get_engine().connect() as connection:
        for method, writer in (("copy", export_files.stream_copy), ("pandas", export_files.stream_pandas)):
            buffer = io.BytesIO()
            writer(connection, spec, buffer)
            outputs[method] = buffer.getvalue()
    return outputs


HOSTILE_SPECS = {
    "raw": {"granularity": "raw"},
    "hour rollups": {"granularity": "hour"},
    "day rollups for countries": {"granularity": "day", "filters": (("country", ("US", "=1", "-2", "\rx", "a\r")),)},
}


@pytest.mark.parametrize("shape", HOSTILE_SPECS)
def test_both_paths_write_the_same_bytes_with_formulas_escaped(hostile, shape):
    # Given events whose text is formulas, quotes, commas, line breaks and bare carriage returns
    spec = ExportSpec(
        publisher_id=PUBLISHER, format="csv", start_date=START, end_date=date(2026, 11, 4), **HOSTILE_SPECS[shape]
    )
    # When the COPY path and the pandas path write the export
    outputs = both_paths(spec)
    # Then they write the same bytes, a bare carriage return quoted by both
    assert outputs["copy"] == outputs["pandas"]
    assert b'"a\rb"' in outputs["copy"]
    # And every text cell that starts like a formula is escaped, the others kept as they are
    rows = rows_of(outputs["copy"])
    text_columns = ["publisher_id", "ad_unit_id"] + (["country", "device"] if shape == "raw" else [])
    countries = dict(spec.filters).get("country")
    expected = {ESCAPED[value] for value in HOSTILE if countries is None or value[:2] in countries}
    hostile_rows = [row for row in rows if row["ad_unit_id"] in ESCAPED.values()]
    assert {row["ad_unit_id"] for row in hostile_rows} == expected and len(expected) > 3
    for row in rows:
        for column in text_columns:
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), row
    # And numbers, negative ones included, are never altered
    negative = next(row for row in hostile_rows if row["ad_unit_id"] == ESCAPED["-2"])
    assert negative["clicks"] == "-1" and negative["revenue"] == "-1.500000"
    huge = next(row for row in rows if row["ad_unit_id"] == HUGE_UNIT)
    assert shape == "raw" or huge["ecpm"] == "1e+15"


def test_both_paths_write_the_same_bytes_with_escaping_turned_off(hostile):
    # Given an export for machine consumers
    spec = ExportSpec(
        publisher_id=PUBLISHER,
        format="csv",
        start_date=START,
        end_date=date(2026, 11, 4),
        granularity="raw",
        csv_escape_formulas=False,
    )
    # When both paths write it
    outputs = both_paths(spec)
    # Then the bytes are the same and every hostile value is written as it is
    assert outputs["copy"] == outputs["pandas"]
    assert {row["ad_unit_id"] for row in rows_of(outputs["copy"])} >= set(HOSTILE)


def test_the_actor_escapes_csv_by_default_and_not_when_told(hostile, worker):
    common = {"publisher_id": PUBLISHER, "format": "csv", "start_date": "2026-11-03", "end_date": "2026-11-03"}
    # When one export keeps the default and another turns escaping off (the API's camelCase name)
    default = run_export(granularity="raw", **common)
    machine = run_export(granularity="raw", csvEscapeFormulas=False, **common)
    json_lines = run_export(**(common | {"format": "jsonl", "granularity": "raw"}))
    # Then the first file is safe for spreadsheets, the second has the values as they are
    for done in (default, machine, json_lines):
        assert done["state"] == "completed", done["error"]
    escaped = {row["ad_unit_id"] for row in rows_of(Path(exported(default["export_id"])["file_path"]).read_bytes())}
    raw = {row["ad_unit_id"] for row in rows_of(Path(exported(machine["export_id"])["file_path"]).read_bytes())}
    assert escaped >= set(ESCAPED.values()) and "=1+1" not in escaped
    assert raw >= set(HOSTILE)
    # And JSON, which no spreadsheet runs, is never escaped
    units = set(read_back(exported(json_lines["export_id"])["file_path"], "jsonl")["ad_unit_id"])
    assert units >= set(HOSTILE)
