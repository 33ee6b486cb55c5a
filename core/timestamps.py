"""Timestamps: the one bounded input type, and reads that survive any stored value.

Input: :data:`Timestamp` is an ISO 8601 date-time with a UTC offset between :data:`EARLIEST`
(1970-01-01T00:00:00Z, inclusive) and :data:`LATEST` (2200-01-01T00:00:00Z, exclusive). Python
cannot represent instants after 9999-12-31 or before year 1 in UTC, while PostgreSQL stores them:
``9999-12-31T23:59:59-14:00`` is year 10000 in UTC, and once stored it could not be read back.

Reads: a database written before that bound existed may still hold such a value, and the ledger
is append-only, so it can never be corrected. Every connection therefore loads ``timestamptz``
with :class:`LenientTimestamptzLoader`, which reads values beyond Python's range as
:data:`BEYOND_RANGE` / :data:`BEFORE_RANGE` instead of raising, so the API, the pages and the
admin still render such a row (the API returns the artifact's own text anyway).
"""
from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated

from pydantic import AwareDatetime, Field

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

# What a stored value outside Python's range reads as; a day inside the range on each side,
# so converting to any time zone (at most ±14 h) stays representable.
BEYOND_RANGE = datetime(9999, 12, 31, tzinfo=UTC)
BEFORE_RANGE = datetime(1, 1, 2, tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def check_timestamp(value: datetime) -> datetime:
    """The same bound for code outside pydantic models (raises ValueError)."""
    if not (EARLIEST <= value < LATEST):
        raise ValueError(f"must be from {_iso(EARLIEST)} up to (not including) {_iso(LATEST)}")
    return value


# The bounds are checked by pydantic-core (offset-aware, in compiled code; folds carry four each).
Timestamp = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST)]


def _out_of_range(data) -> datetime | None:
    """The stand-in for a ``timestamptz`` text psycopg cannot load, or None if that is not why."""
    text = bytes(data).strip()
    if text == b"-infinity" or text.endswith(b" BC"):
        return BEFORE_RANGE
    if text == b"infinity" or len(text.split(b" ")[0].split(b"T")[0]) > 10:  # a year of five digits or more
        return BEYOND_RANGE
    return None


@lru_cache
def lenient_loader(tz):
    """Django's ``timestamptz`` loader for ``tz`` that reads out-of-range values as stand-ins."""
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader
    from psycopg import DataError

    class LenientTimestamptzLoader(BaseTzLoader):
        timezone = tz

        def load(self, data):
            if tz is not None:
                # PostgreSQL's ISO output, parsed in C (psycopg's parser is Python: ~10 us a value, and
                # a page of 100 rows reads hundreds); anything else takes the general path below
                try:
                    return datetime.fromisoformat(bytes(data).decode()).astimezone(tz)
                except (ValueError, OverflowError):
                    pass
            try:
                return super().load(data)
            except DataError:
                stand_in = _out_of_range(data)
                if stand_in is None:
                    raise
                return stand_in.replace(tzinfo=None) if tz is None else stand_in.astimezone(tz)

    return LenientTimestamptzLoader


def lenient_timestamptz_on_connect(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: install the lenient loader on each new PostgreSQL connection."""
    if connection.vendor != "postgresql":
        return
    adapters = getattr(connection.connection, "adapters", None)
    if adapters is None:  # psycopg2
        return
    adapters.register_loader("timestamptz", lenient_loader(connection.timezone))
