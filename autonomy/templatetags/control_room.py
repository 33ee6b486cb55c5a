"""Template filters of the control room."""
from __future__ import annotations

from django import template

from core.canonical import decimal_str

register = template.Library()


@register.filter
def plain(value) -> str:
    """A decimal as a plain string without trailing zeros ("100", "0.5"); "—" for None."""
    return "—" if value is None else decimal_str(value)


@register.filter
def ago(seconds) -> str:
    """A lag in seconds, readably: "42 s", "12 min", "3 h 05 min", "2 d 4 h"; "—" for None."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    if whole < 120:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


MOVE_VERBS = {"ACTIVE": "Resume", "REDUCING": "Reduce", "HALTED": "Halt"}


@register.filter
def move_verb(state: str) -> str:
    """The button's verb for a move to ``state``: Resume, Reduce, Halt."""
    return MOVE_VERBS.get(state, state)
