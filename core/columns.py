"""Input types bounded by the database columns that store them.

A value that passes validation must fit its column: an integer that overflows ``integer`` or a
string longer than its ``varchar`` would otherwise reach PostgreSQL and fail there (a 500 instead
of a 400 naming the field). The bounds are read from the model fields, so the column stays the one
definition.

Counts are JSON integers only (``Strict``: not ``true``, ``"118"`` or ``118.0``). Decimals travel as
JSON strings matching one pattern (``-?[0-9]{1,I}(\\.[0-9]{1,F})?``: no white space, no exponent,
no ``+``, ASCII digits), with ``I`` and ``F`` taken from the column's ``max_digits`` and
``decimal_places``.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from django.db import connection, models
from pydantic import BeforeValidator, Field, Strict, StringConstraints, WithJsonSchema


def _field(model: type[models.Model], name: str) -> models.Field:
    return model._meta.get_field(name)


def column_int(model: type[models.Model], name: str, *, ge: int | None = None) -> Any:
    """A strict JSON integer within the range of ``model.name``'s integer column (and ``>= ge``)."""
    low, high = connection.ops.integer_field_range(_field(model, name).get_internal_type())
    if ge is not None:
        low = ge if low is None else max(low, ge)
    return Annotated[int, Strict(), Field(ge=low, le=high)]


def column_text(model: type[models.Model], name: str, **constraints) -> Any:
    """A string no longer than ``model.name``'s ``max_length`` (plus any other constraints)."""
    return Annotated[str, StringConstraints(max_length=_field(model, name).max_length, **constraints)]


def decimal_pattern(max_digits: int, decimal_places: int) -> re.Pattern[str]:
    return re.compile(rf"-?[0-9]{{1,{max_digits - decimal_places}}}(?:\.[0-9]{{1,{decimal_places}}})?")


def _decimal_json_schema(max_digits: int, decimal_places: int) -> WithJsonSchema:
    pattern = decimal_pattern(max_digits, decimal_places).pattern
    return WithJsonSchema({"type": "string", "pattern": f"^{pattern}$", "examples": ["101.25"]})


def column_decimal_json(model: type[models.Model], name: str) -> dict[str, Any]:
    """How the API documents a decimal string of ``model.name`` where no validator states it (an answer)."""
    field = _field(model, name)
    return dict(_decimal_json_schema(field.max_digits, field.decimal_places).json_schema)


def _decimal_text_check(max_digits: int, decimal_places: int):
    pattern = decimal_pattern(max_digits, decimal_places)
    shape = (f"a JSON string holding a decimal such as \"101.25\" (an optional minus sign, 1 to "
             f"{max_digits - decimal_places} digits, optionally a point and 1 to {decimal_places} digits; "
             f"no spaces or exponent)")

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be {shape}, not a JSON {type(value).__name__}")
        if pattern.fullmatch(value) is None:
            raise ValueError(f"{value!r} is not {shape}")
        return value

    return check


def column_decimal_text(model: type[models.Model], name: str) -> Any:
    """A decimal string that fits ``model.name``'s ``numeric(max_digits, decimal_places)``; stays a str.

    Checked by pydantic-core (the pattern, in compiled code): run artifacts carry thousands of these.
    """
    field = _field(model, name)
    pattern = decimal_pattern(field.max_digits, field.decimal_places).pattern
    return Annotated[str, Strict(), StringConstraints(pattern=f"^{pattern}$"),
                     _decimal_json_schema(field.max_digits, field.decimal_places)]


def column_decimal(model: type[models.Model], name: str, **constraints) -> Any:
    """The same decimal string, read as a ``Decimal`` (``constraints`` such as ``gt=0`` apply to it)."""
    field = _field(model, name)
    check = _decimal_text_check(field.max_digits, field.decimal_places)
    return Annotated[Decimal, BeforeValidator(lambda value: Decimal(check(value))), Field(**constraints),
                     _decimal_json_schema(field.max_digits, field.decimal_places)]
