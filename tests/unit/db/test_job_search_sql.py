"""The job search's SQL and its parameters, without a server: input stays in bound parameters, never in SQL text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import and_, select
from sqlalchemy.dialects import postgresql, sqlite

from control.job_search import build_filter, parse_field, parse_states, parse_time
from control.service import InvalidRequest
from db.job_search import ORDER, TABLE, JobFilter, where

HOSTILE = "x' OR '1'='1'; DROP TABLE jobs; --"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()], ids=["postgresql", "sqlite"])
def test_every_searched_value_is_a_bound_parameter(dialect):
    # Given a search whose every value is hostile text
    search = JobFilter(
        queue=HOSTILE,
        states=(HOSTILE,),
        id_prefix=HOSTILE,
        publisher=HOSTILE,
        fields=((("filters", "country"), HOSTILE), (("format",), HOSTILE)),
    )
    # When its query is compiled for the database
    compiled = (
        select(TABLE.c.id).where(and_(True, *where(dialect.name, search))).order_by(*ORDER).compile(dialect=dialect)
    )
    # Then none of the text is in the SQL; it is all in the parameters
    assert "DROP TABLE" not in str(compiled) and "'1'='1" not in str(compiled)
    assert any(HOSTILE in str(value) for value in compiled.params.values())


def test_an_id_prefix_escapes_like_wildcards():
    compiled = (
        select(TABLE.c.id)
        .where(*where("postgresql", JobFilter(id_prefix="a_b%c\\")))
        .compile(dialect=postgresql.dialect())
    )
    assert "a\\_b\\%c\\\\%" in compiled.params.values()


def test_times_are_iso_8601_utc_without_an_offset_or_a_span_back_from_now():
    assert parse_time("since", "2026-11-02", NOW) == datetime(2026, 11, 2, tzinfo=UTC)
    assert parse_time("since", "2026-11-02 08:30", NOW) == datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    assert parse_time("since", "2026-11-02T08:30:00+01:00", NOW) == datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
    # a `+` typed into a URL by hand arrives as a space
    assert parse_time("since", "2026-11-02T08:30:00 01:00", NOW) == datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
    assert parse_time("since", "90m", NOW) == NOW - timedelta(minutes=90)
    assert parse_time("until", "7d", NOW) == NOW - timedelta(days=7)
    assert parse_time("since", " ", NOW) is None


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "6 weeks", "999999d", "0001-01-01T00:00:00+14:00"])
def test_an_unreadable_time_is_refused_naming_the_parameter(value):
    with pytest.raises(InvalidRequest, match=r"^until: "):
        parse_time("until", value, NOW)


def test_states_repeat_or_separate_by_commas_and_must_be_known():
    assert parse_states(["failed,dead", "failed", " "]) == ("failed", "dead")
    assert parse_states([]) is None
    with pytest.raises(InvalidRequest, match="state: 'stuck'"):
        parse_states(["completed,stuck"])


def test_a_field_is_payload_keys_joined_by_dots():
    assert parse_field("filters.country", " US ") == (("filters", "country"), "US")
    for name in ("format'--", "a.b.c.d.e", "", "a..b", "bad name"):
        with pytest.raises(InvalidRequest, match="^" + re.escape(f"field.{name}: ")):
            parse_field(name, "x")


def test_since_must_come_before_until():
    with pytest.raises(InvalidRequest, match=r"since .* must be before until"):
        build_filter(since="2026-11-03", until="2026-11-02", now=NOW)
