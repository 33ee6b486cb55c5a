"""``{% load timefmt %}``: ``{{ value|utc }}`` (``|utc:"minutes"``, ``|utc:"date"``, ``|utc:"micro"``) writes a time the
site's one way, ``{{ value|duration }}`` a duration or an age ("31 s"); ``{% time_note %}`` says so."""
from __future__ import annotations

from django import template

from core import timefmt

register = template.Library()


@register.filter
def utc(value, precision: str = "seconds"):
    """``<time datetime="ISO" title="… America/New_York">2026-12-02 13:45:07 UTC</time>``; "—" for None."""
    return timefmt.time_html(value, precision)


@register.filter
def duration(value, end=None) -> str:
    """A timedelta, a number of seconds, or the time since a date-time (until ``end``): "31 s", "4 min 05 s"."""
    return timefmt.duration_text(value, end)


@register.simple_tag
def time_note() -> str:
    return timefmt.NOTE
