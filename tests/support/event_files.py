"""Event files for the ingestion tests, written and read back with pandas (never with the loader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from db.engine import get_engine

COLUMNS = ["ts", "publisher_id", "ad_unit_id", "country", "device", "ad_requests", "impressions", "clicks", "revenue"]
HEADER = ",".join(COLUMNS)
SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}


def event_rows(count: int, *, seed: int = 7, publishers: tuple[str, ...] = ("pub-001", "pub-002")) -> pd.DataFrame:
    """`count` events over two UTC days, `ts` as aware UTC times, revenue with 6 decimals."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-03-07T00:00:00Z")
    requests = rng.integers(1, 60, count)
    impressions = (requests * rng.uniform(0.5, 1.0, count)).astype(int)
    return pd.DataFrame(
        {
            "ts": start + pd.to_timedelta(rng.integers(0, 2 * 86400 * 1000, count), unit="ms"),
            "publisher_id": rng.choice(list(publishers), count),
            "ad_unit_id": [f"unit-{i}" for i in rng.integers(1, 4, count)],
            "country": rng.choice(["US", "GB", "DE"], count),
            "device": rng.choice(["mobile", "desktop", "tablet"], count),
            "ad_requests": requests,
            "impressions": impressions,
            "clicks": (impressions * rng.uniform(0, 0.05, count)).astype(int),
            "revenue": np.round(rng.uniform(0, 2, count), 6),
        }
    )


def _iso(ts: pd.Series) -> pd.Series:
    """ISO 8601 text: every other row in UTC with `Z`, the others in +02:00 (the same instants)."""
    utc = ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    plus_two = ts.dt.tz_convert("Etc/GMT-2").dt.strftime("%Y-%m-%dT%H:%M:%S.%f+02:00")
    return utc.where(np.arange(len(ts)) % 2 == 0, plus_two)


def write_events(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    if fmt == "csv":
        frame.assign(ts=_iso(frame["ts"])).to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.assign(ts=_iso(frame["ts"])).to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)
    return path


def read_file(path: Path) -> pd.DataFrame:
    """The file as pandas reads it, `ts` in UTC."""
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype={"publisher_id": str, "ad_unit_id": str})
    elif path.suffix == ".jsonl":
        frame = pd.read_json(path, lines=True, dtype=False)
    else:
        frame = pd.read_parquet(path)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame


def stored_events() -> pd.DataFrame:
    with get_engine().connect() as connection:
        frame = pd.read_sql(text("SELECT ts, publisher_id, ad_unit_id, country, device, ad_requests, impressions,"
                                 " clicks, revenue FROM ad_events"), connection)  # fmt: skip
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["revenue"] = frame["revenue"].astype(float)
    return frame


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order with one dtype per column, to compare a file with the table."""
    out = frame[COLUMNS].copy()
    out["ts"] = out["ts"].dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    for column in ("ad_requests", "impressions", "clicks"):
        out[column] = out[column].astype("int64")
    out["revenue"] = out["revenue"].astype(float).round(6)
    return out.sort_values(COLUMNS).reset_index(drop=True)


def count(sql: str) -> int:
    with get_engine().connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())
