"""The one way the site shows a time and a duration: UTC, with the exchange's time (America/New_York)
on hover, and durations in the largest units that keep them readable ("31 s", "4 min 05 s", "2 d 3 h")."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.html import conditional_escape, format_html

EXCHANGE_TZ = ZoneInfo("America/New_York")
PRECISIONS = {"seconds": "%Y-%m-%d %H:%M:%S", "minutes": "%Y-%m-%d %H:%M", "date": "%Y-%m-%d",
              "micro": "%Y-%m-%d %H:%M:%S.%f"}
NOTE = "Times in UTC; hover one for New York."


def utc_text(value: datetime, precision: str = "seconds") -> str:
    """``value`` in UTC as the site writes it: "2026-12-02 13:45:07 UTC" (a date alone has no zone)."""
    fmt = PRECISIONS.get(precision, PRECISIONS["seconds"])
    if precision == "date":
        return _as_utc(value).strftime(fmt)
    return f"{_as_utc(value).strftime(fmt)} UTC"


def exchange_text(value: datetime) -> str:
    """``value`` at the exchange: "2026-12-02 08:45:07 EST (America/New_York)"."""
    return _as_utc(value).astimezone(EXCHANGE_TZ).strftime("%Y-%m-%d %H:%M:%S %Z") + " (America/New_York)"


def time_html(value, precision: str = "seconds"):
    """A ``<time>`` element: the UTC text, the ISO instant in ``datetime``, New York's time on hover.
    ``None`` or an empty value is "—"; ISO 8601 text with an offset is read; anything else is shown as it is."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):  # an ISO 8601 instant stored as text (a signed artifact's)
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return conditional_escape(value)
        if timezone.is_naive(value):
            return conditional_escape(value.isoformat())  # no offset: not an instant, shown as written
    if isinstance(value, date) and not isinstance(value, datetime):
        return format_html('<time datetime="{}">{}</time>', value.isoformat(), value.isoformat())
    if not isinstance(value, datetime):
        return conditional_escape(str(value))
    moment = _as_utc(value)
    return format_html('<time datetime="{}" title="{}">{}</time>',
                       moment.isoformat().replace("+00:00", "Z"), exchange_text(moment), utc_text(moment, precision))


def duration_text(value, end=None) -> str:
    """A duration readably: "31 s", "4 min 05 s", "4 min", "3 h 05 min", "2 d 4 h"; "—" for None.

    ``value`` is a timedelta, a number of seconds, or a date-time (then the time from it to ``end``,
    by default now). A negative duration reads as "0 s"."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        seconds = ((end or timezone.now()) - value).total_seconds()
    elif isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            return str(value)
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _as_utc(value: datetime) -> datetime:
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
