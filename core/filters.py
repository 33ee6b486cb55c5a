"""Filter fields shared by the API and the pages: a query string the filter cannot read is refused
(400 on the API, a form error on a page) instead of silently ignored, or failing in the database."""
from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField
from django_filters.widgets import BooleanWidget


def in_utc(value: datetime) -> datetime:
    """An aware date-time in UTC. Any valid offset is read (PostgreSQL refuses a literal beyond
    +-15:59); an instant outside Python's years 1-9999 in UTC raises ValueError."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("outside the years 1 to 9999 in UTC") from None


class _StrictBooleanWidget(BooleanWidget):
    """``true``/``false`` (``1``/``0``, any case) or nothing; anything else is handed on as written."""

    def value_from_datadict(self, data, files, name):
        raw = data.get(name)
        value = super().value_from_datadict(data, files, name)
        return raw if value is None and raw not in (None, "") else value


class _StrictNullBooleanField(forms.NullBooleanField):
    widget = _StrictBooleanWidget

    def to_python(self, value):
        if value is None or value == "":
            return None
        if value is True or value is False:
            return value
        raise ValidationError("Enter true or false.", code="invalid")


class BooleanFilter(django_filters.BooleanFilter):
    """django-filter's BooleanFilter, refusing values other than true/false (the schema says boolean)."""

    field_class = _StrictNullBooleanField


class _UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        try:
            value = super().to_python(value)
            return None if value is None else in_utc(value)
        except (ValueError, OverflowError):
            raise ValidationError("Enter an ISO 8601 date-time with a UTC offset, in the years 1 to 9999.",
                                  code="invalid") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """django-filter's IsoDateTimeFilter, read in UTC: any valid offset works, an unstorable instant is invalid."""

    field_class = _UtcIsoDateTimeField
