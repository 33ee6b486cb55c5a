"""Template filters of the control room."""
from __future__ import annotations

from django import template

from core.canonical import decimal_str
from core.timefmt import duration_text

register = template.Library()


@register.filter
def plain(value) -> str:
    """A decimal as a plain string without trailing zeros ("100", "0.5"); "—" for None."""
    return "—" if value is None else decimal_str(value)


@register.filter
def ago(seconds) -> str:
    """A lag in seconds, the site's one way ("42 s", "12 min 05 s"); "—" for None."""
    return duration_text(seconds)


MOVE_VERBS = {"ACTIVE": "Resume", "REDUCING": "Reduce", "HALTED": "Halt"}


@register.filter
def move_verb(state: str) -> str:
    """The button's verb for a move to ``state``: Resume, Reduce, Halt."""
    return MOVE_VERBS.get(state, state)
