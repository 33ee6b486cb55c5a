"""Filter fields shared by the API and the pages: a query string the filter cannot read is refused
(400 on the API, a form error on a page) instead of silently ignored."""
from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.widgets import BooleanWidget


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
