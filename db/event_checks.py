"""Checking the values of a batch of event rows, column by column, with Arrow compute.

A column is converted as a whole (text to time, to integer, to number); only when that fails
is it converted value by value, to find the rows at fault and say why. Every refused row gets
one reason naming each bad field, for example `impressions 'abc' is not a whole number`.

The rules, for the README and the tests:
- `ts`: ISO 8601 with a zone offset (`2024-05-01T13:00:00Z`, `2024-05-01 15:00:00+02:00`),
  stored as UTC; a time without a zone is refused (whose midnight would it be?).
- `publisher_id`, `ad_unit_id`: 1-64 of letters, digits and `_ . : -`, not dots only.
- `country`: two letters (ISO 3166-1 alpha-2), upper-cased; `device`: a lower-case word.
- `ad_requests`, `impressions`, `clicks`: whole numbers from 0 to 2,147,483,647.
- `revenue`: a number from 0 to below 10^12, kept to 6 decimal places.
Spaces around values are ignored; a row whose fields are all empty (a blank CSV line) is skipped.
numpy and pyarrow load with the first batch checked, not when the ingest actor is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from db.event_files import COLUMNS, RawBatch, Reject

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

#: Text accepted as an id (the same as the export filters accept).
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
#: An id of dots only (`.`, `..`) would name a folder, not a publisher, in report paths.
DOTS_PATTERN = r"^\.+$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
DEVICE_PATTERN = r"^[a-z][a-z0-9_-]{0,15}$"
COUNTS = ("ad_requests", "impressions", "clicks")
MAX_COUNT = 2**31 - 1
MAX_REVENUE = 1e12
#: Arrow's type for `ts` once checked: `pa.timestamp(*TS_TYPE)`, microseconds in UTC.
TS_TYPE = ("us", "UTC")
#: Written where a value is bad, so the rest of its column converts in one go.
_PLACEHOLDERS = {"ts": "1970-01-01T00:00:00Z", "count": "0", "revenue": "0"}


@dataclass
class CheckedBatch:
    """The good rows as typed columns (`line` first), and the refused ones with their reasons."""

    table: pa.Table
    rejects: list[Reject] = field(default_factory=list)


class _Faults:
    """Per row, the reasons found so far (only rows with a fault have an entry)."""

    def __init__(self, size: int) -> None:
        import numpy as np  # heavy: loaded with the first batch, not with the actors

        self.bad = np.zeros(size, dtype=bool)
        self.reasons: dict[int, list[str]] = {}

    def add(self, mask: np.ndarray, reason: Callable[[int], str]) -> None:
        import numpy as np  # heavy: loaded with the first batch, not with the actors

        for index in np.flatnonzero(mask):
            self.reasons.setdefault(int(index), []).append(reason(int(index)))
        self.bad |= mask


def _mask(array: pa.Array) -> np.ndarray:
    import numpy as np  # heavy: loaded with the first batch, not with the actors

    return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _convert(text: pa.Array, to: pa.DataType, placeholder: str) -> tuple[pa.Array, np.ndarray]:
    """`text` converted to `to`; values that do not convert are marked and replaced by `placeholder`."""
    import numpy as np  # heavy (numpy, pyarrow): loaded with the first batch, not with the actors
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return text.cast(to), np.zeros(len(text), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    failed = np.zeros(len(text), dtype=bool)
    for index, value in enumerate(text.to_pylist()):
        try:
            pa.scalar(value, pa.string()).cast(to)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            failed[index] = True
    fixed = pc.if_else(pa.array(failed), placeholder, text)
    return fixed.cast(to), failed


def check_batch(batch: RawBatch) -> CheckedBatch:
    """Split `batch` into typed good rows and refused rows (with the ones refused while parsing)."""
    import numpy as np  # heavy (numpy, pyarrow): loaded with the first batch, not with the actors
    import pyarrow as pa
    import pyarrow.compute as pc

    size = len(batch.lines)
    texts = {name: pc.utf8_trim_whitespace(batch.columns[name].fill_null("")) for name in COLUMNS}
    empty = {name: _mask(pc.equal(texts[name], "")) for name in COLUMNS}
    blank = np.logical_and.reduce([empty[name] for name in COLUMNS]) if size else np.zeros(0, dtype=bool)
    faults = _Faults(size)
    raw = {name: texts[name].to_numpy(zero_copy_only=False) for name in COLUMNS}

    def quoted(name: str) -> Callable[[int], str]:
        return lambda i: f"{name} {raw[name][i]!r}"

    def about(name: str, problem: str) -> Callable[[int], str]:
        """A row's reason: the column and its value, then what is wrong with it."""
        return lambda i: f"{quoted(name)(i)} {problem}"

    def said(text: str) -> Callable[[int], str]:
        return lambda i: text

    for name in COLUMNS:
        faults.add(empty[name] & ~blank, said(f"{name} is empty"))
    present = {name: ~empty[name] for name in COLUMNS}

    out: dict[str, pa.Array] = {"line": pa.array(batch.lines, pa.int64())}
    ts, failed = _convert(
        pc.if_else(pa.array(~present["ts"]), _PLACEHOLDERS["ts"], texts["ts"]),
        pa.timestamp(*TS_TYPE),
        _PLACEHOLDERS["ts"],
    )
    faults.add(
        failed & present["ts"],
        lambda i: f"{quoted('ts')(i)} is not an ISO 8601 time with a zone offset (like 2024-05-01T13:00:00Z)",
    )
    out["ts"] = ts
    for name in ("publisher_id", "ad_unit_id"):
        ok = _mask(pc.match_substring_regex(texts[name], ID_PATTERN)) & ~_mask(
            pc.match_substring_regex(texts[name], DOTS_PATTERN)
        )
        faults.add(
            ~ok & present[name],
            about(name, "is not an id (1-64 letters, digits, _ . : -; not dots only)"),
        )
        out[name] = texts[name]
    country = pc.utf8_upper(texts["country"])
    faults.add(
        ~_mask(pc.match_substring_regex(country, COUNTRY_PATTERN)) & present["country"],
        lambda i: f"{quoted('country')(i)} is not a two-letter country code",
    )
    out["country"] = country
    device = pc.utf8_lower(texts["device"])
    faults.add(
        ~_mask(pc.match_substring_regex(device, DEVICE_PATTERN)) & present["device"],
        lambda i: f"{quoted('device')(i)} is not a device name (a lower-case word of at most 16)",
    )
    out["device"] = device
    for name in COUNTS:
        filled = pc.if_else(pa.array(~present[name]), _PLACEHOLDERS["count"], texts[name])
        counts, failed = _convert(filled, pa.int64(), _PLACEHOLDERS["count"])
        faults.add(failed & present[name], about(name, "is not a whole number"))
        values = counts.to_numpy()
        faults.add(
            ~failed & ((values < 0) | (values > MAX_COUNT)),
            about(name, f"is out of range 0..{MAX_COUNT:,}"),
        )
        out[name] = counts
    filled = pc.if_else(pa.array(~present["revenue"]), _PLACEHOLDERS["revenue"], texts["revenue"])
    amounts, failed = _convert(filled, pa.float64(), _PLACEHOLDERS["revenue"])
    faults.add(failed & present["revenue"], lambda i: f"{quoted('revenue')(i)} is not a number")
    values = amounts.to_numpy()
    with np.errstate(invalid="ignore"):
        out_of_range = ~failed & ~((values >= 0) & (values < MAX_REVENUE))
    faults.add(out_of_range, lambda i: f"{quoted('revenue')(i)} is out of range 0..10^12")
    out["revenue"] = texts["revenue"]  # the text itself: PostgreSQL's numeric reads it exactly

    keep = ~faults.bad & ~blank
    table = pa.table(out).filter(pa.array(keep)) if not keep.all() else pa.table(out)
    rejects = list(batch.refused)
    for index in sorted(faults.reasons):
        values_of_row = {name: str(raw[name][index]) for name in COLUMNS}
        rejects.append(Reject(int(batch.lines[index]), "; ".join(faults.reasons[index]), values=values_of_row))
    rejects.sort(key=lambda reject: reject.line)
    return CheckedBatch(table=table, rejects=rejects)
