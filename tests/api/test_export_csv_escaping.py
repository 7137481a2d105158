"""POST /exports: CSV is safe in spreadsheets by default; `csvEscapeFormulas: false` writes values as they are."""

from __future__ import annotations

import time
from datetime import date

from db.engine import get_engine
from db.events import SeedPlan, seed_events
from tests.support.hostile import ESCAPED, HOSTILE, insert_hostile_events, rows_of

API = "/api/v1"
DAY = date(2026, 11, 2)


def _downloaded(client, admin, reader, **options: object) -> bytes:  # type: ignore[no-untyped-def]
    body = {"publisherId": "pub-001", "format": "csv", "startDate": "2026-11-02", "endDate": "2026-11-02"}
    started = client.post(f"{API}/exports", headers=admin, json=body | {"granularity": "raw"} | options)
    assert started.status_code == 201, started.text
    export_id = started.json()["data"]["exportId"]
    deadline = time.monotonic() + 30
    while (export := client.get(f"{API}/exports/{export_id}", headers=reader).json()["data"])["status"] != "completed":
        assert export["status"] in ("pending", "processing") and time.monotonic() < deadline, export
        time.sleep(0.1)
    download = client.get(f"{API}/exports/{export_id}/download", headers=reader)
    assert download.status_code == 200
    return download.content


def test_exports_escape_formulas_unless_the_body_turns_it_off(client, admin, reader, worker):
    # Given events of a publisher whose text cells are formulas
    with get_engine().begin() as connection:
        seed_events(connection, SeedPlan(start=DAY, days=1, rows_per_day=500, publishers=2))
        insert_hostile_events(connection, "pub-001", DAY)
    # When one export keeps the default and another sets csvEscapeFormulas to false
    default = {row["ad_unit_id"] for row in rows_of(_downloaded(client, admin, reader))}
    machine = {row["ad_unit_id"] for row in rows_of(_downloaded(client, admin, reader, csvEscapeFormulas=False))}
    # Then the default file has every formula escaped, the other the values as they are
    assert default >= set(ESCAPED.values()) and not default & {"=1+1", "-2", "@x"}
    assert machine >= set(HOSTILE)
    # And a value that is not a boolean is refused, naming the field
    body = {"publisherId": "pub-001", "format": "csv", "startDate": "2026-11-02", "endDate": "2026-11-02"}
    refused = client.post(f"{API}/exports", headers=admin, json=body | {"csvEscapeFormulas": "sometimes"})
    assert refused.status_code == 422 and "csvEscapeFormulas" in refused.json()["error"]["message"]
