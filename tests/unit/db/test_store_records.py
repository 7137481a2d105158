"""Checks of a job-store record against the columns of `jobs` (pure: no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from db.store_records import RecordRejected, check_record

GOOD: dict[str, Any] = {
    "id": "6a1f6a52-5d3c-4f5e-9a43-2f9c1c0a7b11",
    "queue": "test-jobs",
    "actor": "echo",
    "state": "completed",
    "seq": 3,
    "priority": 5,
    "payload": {"value": 1},
    "attempts": 1,
    "max_attempts": 3,
    "progress": 100,
    "result": {"value": 1},
}


def test_a_sound_record_passes_unchanged():
    checked = check_record(GOOD)
    assert checked.record is GOOD and checked.corrections == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": "x" * 37}, "id: 37 characters, over the column's 36"),
        ({"id": 42}, "id: not text (int)"),
        ({"queue": "q" * 65}, "queue: 65 characters, over the column's 64"),
        ({"actor": "a\x00b"}, "actor: holds a character text cannot hold (NUL or a lone surrogate)"),
        ({"dedupe_key": "k" * 256}, "dedupe_key: 256 characters, over the column's 255"),
        ({"retry_of": "r" * 40}, "retry_of: 40 characters, over the column's 36"),
        ({"state": "exploded"}, "state: not one of the job states"),
        ({"seq": 2**40}, "seq: not a 32-bit integer"),
    ],
)
def test_a_value_that_names_or_orders_the_job_rejects_the_record_naming_the_field(change, reason):
    with pytest.raises(RecordRejected) as rejected:
        check_record({**GOOD, **change})
    assert str(rejected.value) == reason


@pytest.mark.parametrize(
    ("change", "stored", "phrase"),
    [
        ({"priority": "high"}, {"priority": 5}, "priority not a 32-bit integer"),
        ({"priority": 10**12}, {"priority": 10}, "priority not a 32-bit integer"),
        ({"payload": {"k\x00": "a\x00b"}}, {"payload": {"k\ufffd": "a\ufffdb"}}, "payload held NUL"),
        ({"payload": {"s": "\ud800"}}, {"payload": {"s": "\ufffd"}}, "payload held NUL or surrogate"),
        ({"result": {"n": 10**30}}, {"result": {"n": "1" + "0" * 30}}, "result held values JSON has no form for"),
        ({"error": "boom\x00"}, {"error": "boom\ufffd"}, "error held NUL"),
        ({"worker": "w" * 300}, {"worker": "w" * 128}, "worker over 128 characters"),
        ({"attempts": 2**40}, {"attempts": 2**31 - 1}, "attempts out of the 32-bit range"),
        ({"duration_ms": float("nan")}, {"duration_ms": None}, "duration_ms not a finite number"),
        ({"started_at": "yesterday"}, {"started_at": None}, "started_at not a time"),
    ],
)
def test_a_detail_the_column_cannot_take_is_corrected_and_the_correction_named(change, stored, phrase):
    record = {**GOOD, **change}
    checked = check_record(record)
    assert {name: checked.record[name] for name in stored} == stored
    assert any(correction.startswith(phrase) for correction in checked.corrections), checked.corrections
    assert record == {**GOOD, **change}  # the caller's record is left as it was


def test_text_that_only_looks_like_an_escaped_nul_is_kept_as_it_is():
    checked = check_record({**GOOD, "payload": {"s": "\\u0000"}, "finished_at": datetime.now(UTC)})
    assert checked.corrections == []
