"""Filter fields shared by the API and the pages: a query string the filter cannot read is refused
(400 on the API, a form error on a page) instead of silently ignored, or failing in the database."""
from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
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


class FilterBackend(DjangoFilterBackend):
    """django-filter's API backend, skipped when the query string names none of the filterset's parameters
    (and none is required): a filterset deep-copies every filter and builds its form on each request (about
    1 ms for the executions list), and without a parameter it filters nothing."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and not _names_a_filter(request.query_params, filterset_class):
            return queryset
        return super().filter_queryset(request, queryset, view)


def _names_a_filter(params, filterset_class) -> bool:
    filters = filterset_class.base_filters
    if any(f.extra.get("required") for f in filters.values()):
        return True
    # a filter's form field may read several parameters named after it (``price_min``, ``at_after``)
    return any(param == name or param.startswith(f"{name}_") for param in params for name in filters)
