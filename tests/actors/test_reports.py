"""generate_report: figures equal pandas over the raw rows; files written; emailed through a real SMTP server;
its CSV safe in spreadsheets; its files never outside REPORT_DIR nor written through a planted symlink."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from actors.reports import generate_report
from core.file_writes import UnsafePath
from core.payloads import InvalidPayload
from db.engine import get_engine
from db.events import SeedPlan, seed_events
from db.reports import get_report
from reporting import render
from settings import get_settings, load_settings, use_settings
from tests.support import store
from tests.support.analytics import event_frame
from tests.support.hostile import ESCAPED, insert_hostile_events, rows_of
from tests.support.servers import _answers, free_port

PUBLISHER = "pub-003"
# A Wednesday: its ISO week is 2026-11-09 .. 2026-11-15, the previous one 2026-11-02 .. 2026-11-08.
DAY = date(2026, 11, 11)


@pytest.fixture
def events() -> pd.DataFrame:
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=date(2026, 11, 2), days=14, rows_per_day=2000, publishers=4))
    return event_frame()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real SMTP server process (aiosmtpd) delivering into a Maildir."""
    maildir = tmp_path / "maildir"
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Mailbox",
            str(maildir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while not _answers("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"aiosmtpd did not start: {process.stderr.read().decode() if process.stderr else ''}")
        time.sleep(0.05)
    previous = get_settings()
    use_settings(load_settings(smtp_url=f"smtp://127.0.0.1:{port}"))
    try:
        yield f"smtp://127.0.0.1:{port}", maildir
    finally:
        use_settings(previous)
        process.terminate()
        process.wait(10)


def totals(frame: pd.DataFrame, start: str, end: str) -> pd.Series:
    rows = frame[
        (frame["publisher_id"] == PUBLISHER)
        & (frame["ts"] >= pd.Timestamp(start, tz="UTC"))
        & (frame["ts"] < pd.Timestamp(end, tz="UTC"))
    ]
    return rows[["ad_requests", "impressions", "clicks", "revenue"]].sum()


def run(**kwargs: object) -> dict:
    return store.wait_for_state(generate_report.send(**kwargs).message_id, "completed", "dead")


def test_weekly_report_equals_pandas_and_is_emailed(events, worker, smtp_server):
    _, maildir = smtp_server
    done = run(publisher_id=PUBLISHER, report_type="weekly", date=DAY.isoformat(), recipients=["ops@example.com"])
    assert done["state"] == "completed", done["error"]
    assert done["result"]["emailed"] is True

    with get_engine().connect() as connection:
        record = get_report(connection, PUBLISHER, "weekly", date(2026, 11, 9))
    assert record["status"] == "completed" and record["period_end"] == date(2026, 11, 15)
    summary = record["summary"]
    week, before = totals(events, "2026-11-09", "2026-11-16"), totals(events, "2026-11-02", "2026-11-09")
    assert summary["totals"]["impressions"] == week["impressions"]
    assert summary["totals"]["revenue"] == pytest.approx(week["revenue"])
    assert summary["totals"]["ecpm"] == pytest.approx(week["revenue"] * 1000 / week["impressions"])
    assert summary["previous"]["clicks"] == before["clicks"]
    expected_change = (week["revenue"] - before["revenue"]) * 100 / before["revenue"]
    assert summary["change_pct"]["revenue"] == pytest.approx(expected_change, abs=0.01)

    unit_revenue = (
        events[
            (events["publisher_id"] == PUBLISHER)
            & (events["ts"] >= pd.Timestamp("2026-11-09", tz="UTC"))
            & (events["ts"] < pd.Timestamp("2026-11-16", tz="UTC"))
        ]
        .groupby("ad_unit_id")["revenue"]
        .sum()
        .sort_values(ascending=False)
    )
    assert [unit["ad_unit_id"] for unit in summary["top_ad_units"]] == list(unit_revenue.index)

    html = Path(record["html_path"]).read_text()
    assert "Weekly report for pub-003" in html and f"{int(week['impressions']):,}" in html
    csv = pd.read_csv(record["csv_path"])
    assert int(csv[csv["name"] == "this period"]["impressions"].iloc[0]) == week["impressions"]

    messages = list(mailbox.Maildir(maildir, create=False))
    assert len(messages) == 1
    mail = messages[0]
    assert mail["To"] == "ops@example.com" and mail["Subject"] == "Weekly report for pub-003"
    attachments = [part.get_filename() for part in mail.walk() if part.get_filename()]
    assert attachments == ["weekly-2026-11-09.csv"]

    # A rerun (a redelivery) rewrites the same files and does not email again.
    again = run(publisher_id=PUBLISHER, report_type="weekly", date="2026-11-13", recipients=["ops@example.com"])
    assert again["state"] == "completed"
    assert again["result"]["report_id"] == done["result"]["report_id"]
    assert len(list(mailbox.Maildir(maildir, create=False))) == 1


@pytest.mark.parametrize(
    ("report_type", "start", "end"), [("daily", "2026-11-11", "2026-11-12"), ("monthly", "2026-11-01", "2026-12-01")]
)
def test_daily_and_monthly_periods(events, worker, report_type, start, end):
    done = run(publisher_id=PUBLISHER, report_type=report_type, date=DAY.isoformat())
    assert done["state"] == "completed", done["error"]
    with get_engine().connect() as connection:
        record = get_report(connection, PUBLISHER, report_type, date.fromisoformat(start))
    assert record["summary"]["totals"]["clicks"] == totals(events, start, end)["clicks"]


def test_unknown_publisher_and_future_periods_go_dead_at_once(events, worker):
    unknown = run(publisher_id="pub-404", report_type="daily", date=DAY.isoformat())
    assert unknown["state"] == "dead" and unknown["attempts"] == 1 and "unknown publisher" in unknown["error"]
    future = run(publisher_id=PUBLISHER, report_type="daily", date="2099-01-01")
    assert future["state"] == "dead" and future["attempts"] == 1 and "has not begun" in future["error"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"report_type": "yearly"}, "report_type"),
        ({"date": "11/11/2026"}, "date"),
        ({"recipients": ["not-an-address"]}, "recipients"),
    ],
)
def test_bad_payloads_are_refused_at_send(payload, field):
    with pytest.raises(InvalidPayload) as refused:
        generate_report.send(**({"publisher_id": PUBLISHER, "report_type": "daily", "date": "2026-11-11"} | payload))
    assert field in str(refused.value)


def test_report_csv_escapes_formula_cells_and_keeps_numbers(events, worker):
    # Given a publisher whose ad units are named like formulas, some with negative revenue
    with get_engine().begin() as connection:
        insert_hostile_events(connection, "pub-h", DAY)
    # When its daily report is made
    done = run(publisher_id="pub-h", report_type="daily", date=DAY.isoformat())
    assert done["state"] == "completed", done["error"]
    with get_engine().connect() as connection:
        record = get_report(connection, "pub-h", "daily", DAY)
    # Then every name cell that starts like a formula is escaped in the CSV
    rows = rows_of(Path(record["csv_path"]).read_bytes())
    units = {unit["ad_unit_id"]: unit for unit in record["summary"]["top_ad_units"]}
    listed = [row for row in rows if row["section"] == "ad_unit"]
    assert len(listed) == len(units) == 10
    assert {row["name"] for row in listed} == {ESCAPED.get(unit, unit) for unit in units}
    assert any(row["name"] != unit for row, unit in zip(listed, units, strict=True))
    for row in rows:
        assert not row["name"].startswith(("=", "+", "-", "@", "\t", "\r")), row
    # And the figures, negative ones included, are the numbers as they are
    for row, unit in zip(listed, units.values(), strict=True):
        assert float(row["revenue"]) == unit["revenue"] and int(row["clicks"]) == unit["clicks"]
    negative = [row for row in listed if float(row["revenue"]) < 0]
    assert negative and all(row["revenue"] == "-1.5" and row["clicks"] == "-1" for row in negative)


@pytest.mark.parametrize("publisher", ["..", "."])
def test_publisher_ids_that_name_a_path_are_refused(publisher):
    # When a report is asked for a publisher id that would leave REPORT_DIR
    with pytest.raises(InvalidPayload) as refused:
        generate_report.send(publisher_id=publisher, report_type="daily", date="2026-11-11")
    # Then it is refused, naming the field
    assert "publisher_id" in str(refused.value) and "report directory" in str(refused.value)


def test_report_files_never_leave_the_report_directory(tmp_path):
    figures = {"report_type": "daily", "period_start": "2026-11-11"}
    root = get_settings().report_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.symlink(tmp_path, root / "pub-link")
    # When the files of a report are placed for `..`, `.`, or a directory replaced by a symlink outside
    for publisher in ("..", ".", "pub-link"):
        with pytest.raises(UnsafePath):
            render.report_paths(figures | {"publisher_id": publisher})
    # Then they are refused, and ids that look like paths land in a directory of their own inside
    for publisher in ("../x", "/etc/passwd", "a\\..\\b", "..."):
        html, csv = render.report_paths(figures | {"publisher_id": publisher})
        assert html.parent == csv.parent and html.parent.parent == root
    assert list(tmp_path.iterdir()) == []


def test_report_files_are_never_written_through_a_planted_symlink(events, worker, tmp_path):
    # Given symlinks planted where the report's files and temporary files would go
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    directory = get_settings().report_dir.resolve() / PUBLISHER
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("daily-2026-11-11.csv", "daily-2026-11-11.csv.part", "daily-2026-11-11.html.part"):
        (directory / name).unlink(missing_ok=True)  # an earlier test's report of the same day
        os.symlink(victim, directory / name)
    # When the report is made
    done = run(publisher_id=PUBLISHER, report_type="daily", date=DAY.isoformat())
    # Then the file outside is untouched and the report's files are regular files
    assert done["state"] == "completed", done["error"]
    assert victim.read_text() == "keep me"
    for name in ("daily-2026-11-11.csv", "daily-2026-11-11.html"):
        assert (directory / name).is_file() and not (directory / name).is_symlink()
