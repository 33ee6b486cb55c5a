"""Serializer fields shared by every app."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ledger.canonical import decimal_str


@extend_schema_field(OpenApiTypes.STR)
class PlainDecimalField(serializers.Field):
    """A decimal rendered as a plain JSON string ("101.25"), never a float."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return decimal_str(value)
