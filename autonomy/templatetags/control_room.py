"""Template filters of the control room."""
from __future__ import annotations

from django import template

from core.canonical import decimal_str

register = template.Library()


@register.filter
def plain(value) -> str:
    """A decimal as a plain string without trailing zeros ("100", "0.5"); "—" for None."""
    return "—" if value is None else decimal_str(value)
