"""ingest_events: files dropped into INGEST_DIR are found by the scan schedule and loaded by a worker;
a path outside INGEST_DIR is refused at send() and by the worker; a refused file goes dead, moved aside."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dramatiq
import pandas as pd
import pytest

from actors.ingest import ingest_events
from core.payloads import InvalidPayload
from pipelines.scheduled import ingest_scan
from settings import get_settings
from tests.support import store
from tests.support.event_files import HEADER, canonical, count, event_rows, read_file, stored_events, write_events
from tests.support.processes import worker_process


@pytest.fixture
def ingest_dir() -> Path:
    root = get_settings().ingest_dir
    root.mkdir(parents=True, exist_ok=True)
    for entry in root.rglob("*"):
        if entry.is_file() or entry.is_symlink():
            entry.unlink()
    return root


def test_a_dropped_file_is_found_by_the_scan_and_loaded_by_a_worker(ingest_dir, tmp_path):
    # Given an events file dropped into INGEST_DIR, next to a file still being written
    frame = event_rows(2000, publishers=("pub-001", "pub-unannounced"))
    path = write_events(frame, ingest_dir / "2026-03-07.jsonl", "jsonl")
    expected = canonical(read_file(path))
    (ingest_dir / ".2026-03-08.csv.part").write_text(HEADER + "\n")

    # When the scan schedule ticks and a `dramatiq actors` worker runs
    job_ids = ingest_scan(datetime.now(UTC))
    with worker_process("actors", processes=1, threads=2):
        done = store.wait_for_state(job_ids[0], "completed", "dead", timeout=90)

    # Then the one complete file was loaded, as pandas reads it, and moved to loaded/
    assert len(job_ids) == 1
    assert done["state"] == "completed", done
    assert done["result"]["rows"] == 2000 and done["result"]["new_publishers"] == 2
    pd.testing.assert_frame_equal(canonical(stored_events()), expected)
    assert not path.exists() and (ingest_dir / "loaded" / "2026-03-07.jsonl").is_file()
    # and the next scan sends nothing
    assert ingest_scan(datetime.now(UTC)) == []


@pytest.mark.parametrize("where", ["absolute", "dot-dot", "symlink"])
def test_send_refuses_a_path_outside_ingest_dir(ingest_dir, tmp_path, where):
    # Given an events file outside INGEST_DIR, named three ways
    outside = write_events(event_rows(5), tmp_path / "outside.csv", "csv")
    (ingest_dir / "link.csv").symlink_to(outside)
    path = {
        "absolute": str(outside),
        "dot-dot": "../outside.csv",
        "symlink": "link.csv",
    }[where]

    # When it is sent, Then send() refuses it naming the field and INGEST_DIR, and nothing is enqueued
    with pytest.raises(InvalidPayload, match=r"field 'path'.*outside INGEST_DIR"):
        ingest_events.send(path=path)


def test_a_worker_refuses_a_hand_made_message_with_a_path_outside_ingest_dir(ingest_dir, tmp_path, broker, worker):
    # Given a valid events file outside INGEST_DIR, in a message made by hand (no send() check)
    outside = write_events(event_rows(5), tmp_path / "outside.csv", "csv")
    message = dramatiq.Message(
        queue_name="event-ingestion", actor_name="ingest_events", args=(), kwargs={"path": str(outside)}, options={}
    )

    # When a worker gets it
    broker.enqueue(message)
    done = store.wait_for_state(message.message_id, "completed", "dead")

    # Then the job is dead, saying why, and nothing was read into ad_events
    assert done["state"] == "dead"
    assert "outside INGEST_DIR" in done["error"]
    assert count("SELECT count(*) FROM ad_events") == 0


def test_a_file_with_a_bad_row_goes_dead_and_moves_to_refused(ingest_dir, worker):
    # Given a dropped file whose second data row has an unknown time
    path = ingest_dir / "bad.csv"
    path.write_text(f"{HEADER}\n2026-03-07T10:00:00Z,p,u,US,mobile,5,4,1,0.1\nyesterday,p,u,US,mobile,5,4,1,0.1\n")

    # When its job runs
    message = ingest_events.send(path="bad.csv")
    done = store.wait_for_state(message.message_id, "completed", "dead")

    # Then it is dead at once (no retry) naming the line, nothing is loaded, and the file moved aside
    assert done["state"] == "dead" and done["attempts"] == 1
    assert "line 3: ts 'yesterday'" in done["error"]
    assert count("SELECT count(*) FROM ad_events") == 0
    assert (ingest_dir / "refused" / "bad.csv").is_file() and not path.exists()
