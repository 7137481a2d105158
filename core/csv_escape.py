"""Text cells a spreadsheet would run as a formula, escaped the OWASP way (a leading `'`).

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula (or is
read as one) in Excel, LibreOffice and Google Sheets; prefixed with `'` it shows as text.
Only text columns are escaped (ids, country, device, names): numbers, negative ones
included, are never altered. Exports do it in SQL (`escaped_text`), so their COPY and pandas
paths share it; reports do it on their frame (`escape_text_columns`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, case, func, literal

if TYPE_CHECKING:
    import pandas as pd

#: The first characters that make a cell a formula (OWASP CSV injection).
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: What goes before such a cell.
ESCAPE_PREFIX = "'"


def escape_formula(value: str) -> str:
    """`value` with a leading `'` when it starts like a formula; otherwise unchanged."""
    return ESCAPE_PREFIX + value if value.startswith(FORMULA_STARTS) else value


def escaped_text(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A SQL expression of the text `column`, escaped like `escape_formula`, labelled with its name."""
    return case(
        (func.substr(column, 1, 1).in_(FORMULA_STARTS), literal(ESCAPE_PREFIX) + column),
        else_=column,
    ).label(column.name)


def escape_text_columns(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """`frame` with every string in `columns` escaped (other values, NULLs included, kept)."""
    for column in columns:
        frame[column] = frame[column].map(lambda value: escape_formula(value) if isinstance(value, str) else value)
    return frame
