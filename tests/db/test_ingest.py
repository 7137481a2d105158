"""load_file on the real PostgreSQL: CSV, JSON lines and Parquet files land in `ad_events` as pandas
reads them, once per checksum, all or nothing (or with --skip-bad, the rest plus a rejects file),
and publishers nobody registered are registered on the way in."""

from __future__ import annotations

import hashlib
import shutil
import threading

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from db.event_files import RefusedFile
from db.ingest import load_file
from db.migrate import upgrade
from tests.support.event_files import (
    HEADER,
    SUFFIX,
    canonical,
    count,
    event_rows,
    read_file,
    stored_events,
    write_events,
)

#: Bad rows of the CSV below, with the line each is on and a word its reason must contain.
BAD_LINES = {
    4: "zone offset",  # a time without a zone
    5: "impressions",  # not a whole number
    7: "expected 9 fields",  # a short row
    8: "country",  # three letters
    9: "revenue",  # negative
}
MIXED_CSV = "\n".join(
    [
        HEADER,
        "2026-03-07T10:15:00Z,pub-001,unit-1,US,mobile,10,8,1,0.120000",  # line 2
        "2026-03-07T12:15:00+02:00,pub-002,unit-2,GB,desktop,20,15,2,0.5",  # line 3
        "2026-03-07T10:15:00,pub-001,unit-1,US,mobile,10,8,1,0.1",  # line 4
        "2026-03-07T10:15:00Z,pub-001,unit-1,US,mobile,10,eight,1,0.1",  # line 5
        "",  # line 6: blank, skipped
        "2026-03-07T10:15:00Z,pub-001,unit-1",  # line 7
        "2026-03-07T11:00:00Z,pub-001,unit-1,USA,mobile,10,8,1,0.1",  # line 8
        "2026-03-07T11:00:00Z,pub-001,unit-1,US,mobile,10,8,1,-3",  # line 9
        "2026-03-08T00:30:00-05:00,pub-003,unit-9,DE,tablet,7,7,0,0.07",  # line 10
    ]
)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_each_format_loads_the_values_pandas_reads_from_the_file(tmp_path, fmt):
    # Given a file of 5,000 events (times given in UTC and in +02:00)
    path = write_events(event_rows(5000), tmp_path / f"events{SUFFIX[fmt]}", fmt)

    # When it is loaded
    result = load_file(path)

    # Then ad_events holds exactly the rows pandas reads from the file, times in UTC
    expected = canonical(read_file(path))
    pd.testing.assert_frame_equal(canonical(stored_events()), expected)
    assert (result.status, result.rows, result.rejected) == ("loaded", 5000, 0)
    assert result.first_ts == expected["ts"].min() and result.last_ts == expected["ts"].max()
    # and the batch is recorded under the file's SHA-256
    checksum = hashlib.sha256(path.read_bytes()).hexdigest()
    assert count(f"SELECT rows FROM ingest_batches WHERE checksum = '{checksum}'") == 5000


def test_loading_the_same_file_twice_adds_nothing_even_under_another_name(tmp_path):
    # Given a loaded file
    path = write_events(event_rows(300), tmp_path / "events.csv", "csv")
    assert load_file(path).status == "loaded"

    # When it is loaded again, and its copy under another name
    again = load_file(path)
    copy = load_file(shutil.copy(path, tmp_path / "copy-of-events.csv"))

    # Then both say "already loaded" and the table holds each event once
    assert (again.status, again.rows) == ("already loaded", 300)
    assert copy.status == "already loaded"
    assert count("SELECT count(*) FROM ad_events") == 300
    assert count("SELECT count(*) FROM ingest_batches") == 1


def test_two_loads_of_one_file_at_the_same_moment_add_it_once(tmp_path):
    # Given a file and two loaders started together
    path = write_events(event_rows(20_000), tmp_path / "events.csv", "csv")
    barrier = threading.Barrier(2)
    statuses: list[str] = []

    def load() -> None:
        barrier.wait()
        statuses.append(load_file(path).status)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then one loaded it and the other found it loaded
    assert sorted(statuses) == ["already loaded", "loaded"]
    assert count("SELECT count(*) FROM ad_events") == 20_000


def test_a_bad_row_refuses_the_whole_file_naming_its_line_and_reason(tmp_path):
    # Given a CSV whose fourth line has a time without a zone (and later lines other faults)
    path = tmp_path / "mixed.csv"
    path.write_text(MIXED_CSV)

    # When it is loaded without --skip-bad
    with pytest.raises(RefusedFile) as refused:
        load_file(path)

    # Then the first bad line and its reason are reported, and nothing is loaded or recorded
    assert "line 4" in str(refused.value) and "zone offset" in str(refused.value)
    assert [reject.line for reject in refused.value.rejects] == sorted(BAD_LINES)
    assert count("SELECT count(*) FROM ad_events") == 0
    assert count("SELECT count(*) FROM ingest_batches") == 0
    assert count("SELECT count(*) FROM publishers") == 0


def test_skip_bad_loads_the_good_rows_and_writes_every_rejected_row_with_line_and_reason(tmp_path):
    # Given the same CSV
    path = tmp_path / "mixed.csv"
    path.write_text(MIXED_CSV)

    # When it is loaded with skip_bad
    result = load_file(path, skip_bad=True)

    # Then the good lines (2, 3, 10) are in ad_events, as pandas reads them
    good = pd.read_csv(path, skiprows=[i - 1 for i in (*BAD_LINES, 6)], dtype={"ad_requests": int})
    good["ts"] = pd.to_datetime(good["ts"], utc=True, format="ISO8601")
    pd.testing.assert_frame_equal(canonical(stored_events()), canonical(good))
    assert (result.rows, result.rejected) == (3, len(BAD_LINES))

    # and the rejects file next to it has every bad row: its line, a reason naming the fault, its values
    assert result.rejects_path == str(tmp_path / "mixed.csv.rejects.csv")
    rejects = pd.read_csv(result.rejects_path, dtype=str, keep_default_na=False)
    assert [int(line) for line in rejects["line"]] == sorted(BAD_LINES)
    for line, reason in zip(rejects["line"], rejects["reason"], strict=True):
        assert BAD_LINES[int(line)] in reason
    source_lines = MIXED_CSV.split("\n")
    assert rejects.set_index("line").loc["5", "impressions"] == "eight"
    assert rejects.set_index("line").loc["7", "raw"] == source_lines[6]


def test_jsonl_lines_that_are_not_events_are_rejected_by_line(tmp_path):
    # Given JSON lines: a good one, broken JSON, a missing field, an extra field, a good one
    good = '{"ts": "2026-03-07T10:00:00Z", "publisher_id": "pub-001", "ad_unit_id": "u", "country": "US",'
    good += ' "device": "mobile", "ad_requests": 3, "impressions": 2, "clicks": 0, "revenue": 0.01}'
    lines = [good, "{not json", good.replace(', "clicks": 0', ""), good.replace("}", ', "x": 1}'), good]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")

    # When it is loaded with skip_bad
    result = load_file(path, skip_bad=True)

    # Then lines 2-4 are rejected with what is wrong, and the two good lines are loaded
    rejects = pd.read_csv(result.rejects_path, dtype=str, keep_default_na=False)
    assert list(rejects["line"]) == ["2", "3", "4"]
    assert "not JSON" in rejects["reason"][0]
    assert "missing fields: clicks" in rejects["reason"][1]
    assert "unexpected fields: x" in rejects["reason"][2]
    assert count("SELECT count(*) FROM ad_events") == result.rows == 2


def test_a_publisher_id_of_dots_only_is_refused_by_line(tmp_path):
    # Given a file whose second event names publisher `..` (it would name a folder in report paths)
    path = tmp_path / "dots.csv"
    path.write_text(
        "ts,publisher_id,ad_unit_id,country,device,ad_requests,impressions,clicks,revenue\n"
        "2026-11-01T10:00:00Z,pub-a,unit-1,US,mobile,10,8,1,0.5\n"
        "2026-11-01T10:00:00Z,..,unit-1,US,mobile,10,8,1,0.5\n"
    )

    # When it is loaded
    with pytest.raises(RefusedFile) as refused:
        load_file(path)

    # Then line 3 is refused for its publisher_id and nothing is loaded
    assert [reject.line for reject in refused.value.rejects] == [3]
    assert "publisher_id" in refused.value.rejects[0].reason
    assert count("SELECT count(*) FROM ad_events") == 0


def test_a_file_with_other_columns_is_refused_naming_them(tmp_path):
    # Given a CSV whose header lacks `revenue` and has `price`
    path = tmp_path / "events.csv"
    path.write_text(HEADER.replace("revenue", "price") + "\n2026-03-07T10:00:00Z,p,u,US,mobile,1,1,0,0.1\n")

    # When it is loaded, Then it is refused naming both columns
    with pytest.raises(RefusedFile, match="missing: revenue; unexpected: price"):
        load_file(path, skip_bad=True)
    assert count("SELECT count(*) FROM ad_events") == 0


def test_an_unregistered_publisher_is_registered_on_the_way_in(tmp_path):
    # Given a registered publisher and a file with events of it and of one nobody registered
    with_engine_sql("INSERT INTO publishers (id, name) VALUES ('pub-001', 'Known')")
    path = write_events(event_rows(200, publishers=("pub-001", "pub-newcomer")), tmp_path / "events.csv", "csv")

    # When it is loaded
    result = load_file(path)

    # Then the newcomer is in publishers (named by its id) and reported as new
    assert result.new_publishers == ["pub-newcomer"]
    assert with_engine_rows("SELECT id, name FROM publishers ORDER BY id") == [
        ("pub-001", "Known"),
        ("pub-newcomer", "pub-newcomer"),
    ]


def test_the_embedded_sqlite_database_loads_a_file_too(tmp_path):
    # Given the embedded default's SQLite database
    engine = create_engine(f"sqlite:///{tmp_path / 'embedded.sqlite3'}")
    with engine.begin() as connection:
        upgrade(connection)
    path = write_events(event_rows(500, publishers=("pub-001", "pub-sqlite")), tmp_path / "events.csv", "csv")

    # When a file is loaded into it, twice
    first, second = load_file(path, engine=engine), load_file(path, engine=engine)

    # Then it holds the file's rows once, and the publishers are registered
    with engine.connect() as connection:
        stored = pd.read_sql(text("SELECT * FROM ad_events"), connection)
        publishers = sorted(connection.execute(text("SELECT id FROM publishers")).scalars())
    stored["ts"] = pd.to_datetime(stored["ts"]).dt.tz_localize("UTC")
    pd.testing.assert_frame_equal(canonical(stored), canonical(read_file(path)))
    assert (first.status, second.status) == ("loaded", "already loaded")
    assert publishers == ["pub-001", "pub-sqlite"] and first.new_publishers == ["pub-001", "pub-sqlite"]


def with_engine_sql(sql: str) -> None:
    from db.engine import get_engine

    with get_engine().begin() as connection:
        connection.execute(text(sql))


def with_engine_rows(sql: str) -> list[tuple]:
    from db.engine import get_engine

    with get_engine().connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]
