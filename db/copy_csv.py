"""CSV exactly as PostgreSQL's `COPY ... TO STDOUT WITH (FORMAT csv)` writes it, from pandas frames.

The pandas path of an export writes these bytes so that it and the COPY path give the same
file for the same rows: every value in PostgreSQL's text form (timestamps in UTC as
`2026-11-02 00:00:00.5+00`, numerics with their scale, floats in their shortest exact form
with no `.0`), NULL as an empty cell, and a value in double quotes when it holds a comma, a
quote, a newline or a carriage return, or is empty (`""`: an empty text is not NULL).
Python's csv module (3.11) quotes neither a bare carriage return nor an empty string, which
is why the quoting is done here rather than by `DataFrame.to_csv`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: A value COPY puts in quotes: it holds the delimiter, the quote or a line break.
NEEDS_QUOTES = re.compile(r'[,"\r\n]')
#: PostgreSQL prints a float in fixed notation when its decimal exponent is in this range.
FIXED_EXPONENTS = range(-4, 15)


def float_text(value: float) -> str:
    """A float as PostgreSQL's float8 output (extra_float_digits = 1): shortest exact digits."""
    text = repr(value)
    if "e" in text or "n" in text:  # exponent form (same as PostgreSQL's), inf or nan
        return text
    if text.endswith(".0"):
        text = text[:-2]
    if abs(value) < 1e15:
        return text
    # 1e15 <= |value| < 1e16: Python prints it in full, PostgreSQL in exponent form.
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    digits = (whole + fraction).rstrip("0")
    exponent = len(whole) - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e+{exponent:02d}"


def timestamp_text(value: datetime) -> str:
    """A UTC timestamp as PostgreSQL prints a timestamptz with TimeZone = 'UTC'."""
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "+00"


def value_text(value: Any) -> str | None:
    """One value's text form; None for NULL (and a missing float, which pandas cannot tell apart)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return None if math.isnan(value) else float_text(value)
    if isinstance(value, Decimal):
        return None if value.is_nan() else format(value, "f")
    if value != value:  # pandas' NaT
        return None
    if isinstance(value, datetime):
        return timestamp_text(value)
    return str(value)


def cell(value: Any) -> str:
    """One CSV cell: empty for NULL, quoted the way COPY quotes."""
    text = value_text(value)
    if text is None:
        return ""
    if text == "" or NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def header_line(columns: Iterable[str]) -> str:
    return ",".join(cell(str(column)) for column in columns) + "\n"


def column_cells(series: pd.Series) -> pd.Series:
    """A column's CSV cells: integers and timestamps in bulk (they never need quotes), the rest one by one."""
    import pandas as pd

    if pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype(str)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        utc = series.dt.tz_convert("UTC")
        if not utc.isna().any():
            text = utc.dt.strftime("%Y-%m-%d %H:%M:%S")
            microseconds = utc.dt.microsecond
            if microseconds.any():
                text += microseconds.map(lambda us: f".{us:06d}".rstrip("0") if us else "")
            return text + "+00"
    elif pd.api.types.infer_dtype(series, skipna=False) == "string" and not series.isna().any():  # text, no NULL
        quoted = series.str.contains(NEEDS_QUOTES) | (series == "")
        return series.where(~quoted, '"' + series.str.replace('"', '""', regex=False) + '"')
    return series.astype(object).map(cell)


def csv_lines(frame: pd.DataFrame) -> str:
    """The frame's rows as COPY's CSV lines, each ending in `\\n` (no header)."""
    if frame.empty:
        return ""
    columns = [column_cells(frame[column]).tolist() for column in frame.columns]
    return "\n".join(map(",".join, zip(*columns, strict=True))) + "\n"
