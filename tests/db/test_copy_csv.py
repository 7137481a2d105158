"""The pandas path's CSV text equals PostgreSQL's own text for the same values (floats, timestamps, quoting)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from db import copy_csv
from db.engine import get_engine

FLOATS = [
    0.0,
    -0.0,
    1.0,
    -1500.0,
    0.1,
    1 / 3,
    1e-5,
    -1.5e-05,
    0.0001,
    123456789012345.67,
    1e15,
    -1234567890123456.8,
    9.999999999999998e15,
    1e16,
    1.2345e22,
]
TIMESTAMPS = [datetime(2026, 11, 2, 1, 2, 3, us, tzinfo=UTC) for us in (0, 250_000, 123_456, 10)]
TEXTS = ["plain", "", "a,b", 'say "hi"', "two\nlines", "a\rb", "'=1+1", " padded "]
#: A one-row, one-column COPY of a bound value, as PostgreSQL writes it.
COPY_ONE = "COPY (SELECT CAST(%s AS {type})) TO STDOUT WITH (FORMAT csv)"
COPY_FLOAT = COPY_ONE.format(type="float8")
COPY_TIMESTAMP = COPY_ONE.format(type="timestamptz")
COPY_TEXT = COPY_ONE.format(type="text")
SET_UTC = "SET TimeZone = 'UTC'"


def copied(statement: str, value: object) -> str:
    with get_engine().connect() as connection:
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor:
            cursor.execute(SET_UTC)
            with cursor.copy(statement, (value,)) as copy:
                return b"".join(bytes(chunk) for chunk in copy).decode()


def test_cells_written_from_pandas_equal_postgresql_copy_output():
    # Given floats at the edges of PostgreSQL's fixed and exponent forms, timestamps with
    # fractions of a second and texts that need quoting
    frames = {
        COPY_FLOAT: pd.DataFrame({"v": FLOATS}),
        COPY_TIMESTAMP: pd.DataFrame({"v": pd.to_datetime(TIMESTAMPS, utc=True)}),
        COPY_TEXT: pd.DataFrame({"v": TEXTS}),
    }
    # (floats sent as text: a bound float arrives as a numeric literal, which has no -0)
    values = {COPY_FLOAT: [repr(value) for value in FLOATS], COPY_TIMESTAMP: TIMESTAMPS, COPY_TEXT: TEXTS}
    for statement, frame in frames.items():
        # When the pandas path writes them and PostgreSQL's COPY writes each
        ours = copy_csv.csv_lines(frame)
        theirs = "".join(copied(statement, value) for value in values[statement])
        # Then the lines are the same
        assert ours == theirs, statement


def test_nulls_are_empty_cells_and_empty_texts_are_quoted():
    # Given a text column and a float column, each with a NULL
    frame = pd.DataFrame({"t": ["", None], "f": [None, 2.5]})
    # When written, Then NULL is an empty cell and an empty text is `""`, as COPY writes them
    assert copy_csv.csv_lines(frame) == '"",\n,2.5\n'
    assert copied(COPY_TEXT, "") + copied(COPY_TEXT, None) == '""\n\n'
