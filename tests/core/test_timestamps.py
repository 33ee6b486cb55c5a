"""Every ``timestamptz`` a connection reads goes through the lenient loader (core.timestamps): exact for
each value Python can hold, whatever its precision and offset, and a stand-in for the rest."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from core.timestamps import BEFORE_RANGE, BEYOND_RANGE

pytestmark = pytest.mark.django_db


def read(text: str) -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz", [text])
        return cursor.fetchone()[0]


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                               timezone(timedelta(hours=-9, minutes=-15))])))
@settings(max_examples=300, deadline=None)
def test_every_instant_python_can_hold_reads_back_exactly_in_utc(value):
    got = read(value.isoformat())
    assert got == value and got.utcoffset() == timedelta(0) and got.tzinfo is UTC


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-03 13:21:43.446801+00", datetime(2026, 12, 3, 13, 21, 43, 446801, tzinfo=UTC)),
    ("2026-12-03 13:21:43.4+00", datetime(2026, 12, 3, 13, 21, 43, 400000, tzinfo=UTC)),
    ("2026-12-03 13:21:43-14:00", datetime(2026, 12, 4, 3, 21, 43, tzinfo=UTC)),
    ("0001-01-02 00:00:00+00", datetime(1, 1, 2, tzinfo=UTC)),
    ("9999-12-31 23:59:59.999999+00", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("9999-12-31 23:59:59-14:00", BEYOND_RANGE),  # year 10000 in UTC
    ("infinity", BEYOND_RANGE),
    ("-infinity", BEFORE_RANGE),
    ("0044-03-15 12:00:00+00 BC", BEFORE_RANGE),
])
def test_edges_and_values_beyond_pythons_range(text, expected):
    assert read(text) == expected


def test_a_session_in_another_time_zone_reads_the_same_instants():
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'America/New_York'")
        try:
            cursor.execute("SELECT '2026-07-01 12:00:00.25+00'::timestamptz")
            got = cursor.fetchone()[0]
        finally:
            cursor.execute("RESET TIME ZONE")
    assert got == datetime(2026, 7, 1, 12, 0, 0, 250000, tzinfo=UTC)
