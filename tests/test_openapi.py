"""The OpenAPI schema says what the API does: valid OpenAPI 3.0, every error answer with the one
``Error`` envelope, list bounds, decimal strings with their pattern.

``tests/test_api_fuzz.py`` checks the running API against this schema; these tests check that the
schema says enough for that check to mean something.
"""
from __future__ import annotations

import json
import re

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator

from core.columns import decimal_pattern
from core.openapi import to_openapi_30
from ledger.schemas import DecimalStr

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def component(schema, name):
    return schema["components"]["schemas"][name]


def test_schema_is_valid_openapi_30(schema):
    assert schema["openapi"].startswith("3.0")
    schemathesis.openapi.from_dict(schema).validate()  # the OpenAPI 3.0 meta-schema: no "type": "null"
    text = json.dumps(schema)
    for keyword in ('"const"', '"prefixItems"', '"$defs"', '"propertyNames"', '"examples"', '"type": "null"'):
        assert keyword not in text, f"{keyword} is JSON Schema 2020-12, not OpenAPI 3.0"


def test_every_error_answer_is_the_error_envelope(schema):
    envelope = component(schema, "Error")
    assert envelope["required"] == ["error"]
    assert envelope["properties"]["error"]["required"] == ["code", "message", "details"]
    for label, operation in operations(schema):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (label, status)
                assert response["description"], (label, status)


def test_common_error_answers_follow_from_the_operation(schema):
    for label, operation in operations(schema):
        codes = set(operation["responses"])
        assert {"401", "403", "406", "429", "503"} <= codes, label
        locations = {p["in"] for p in operation.get("parameters", [])}
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= codes, label
        if "query" in locations:
            assert "400" in codes, label
        if "path" in locations:
            assert "404" in codes, label
        assert "Retry-After" in operation["responses"]["429"]["headers"], label


def test_view_specific_errors_are_documented(schema):
    runs = schema["paths"]["/api/v1/research/runs"]["post"]["responses"]
    assert "run_conflict" in runs["409"]["description"]
    orders = schema["paths"]["/api/v1/trading/orders"]["post"]["responses"]
    assert "trading_halted" in orders["423"]["description"]


def test_every_list_endpoint_documents_limit_and_cursor(schema):
    lists = 0
    for label, operation in operations(schema):
        body = operation["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        ref = body.get("$ref", "")
        page = component(schema, ref.rsplit("/", 1)[-1]) if ref else body
        if set(page.get("properties", {})) != {"results", "next"}:
            continue
        lists += 1
        parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
        assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}, label
        assert parameters["cursor"]["schema"]["type"] == "string", label
        assert page["required"] == ["results", "next"] and page["properties"]["next"]["nullable"] is True, label
    assert lists >= 3


def test_filters_are_documented_on_list_endpoints(schema):
    executions = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/trading/executions"]["get"]["parameters"]}
    assert executions["since"] == {"type": "string", "format": "date-time"}
    assert set(executions["adapter"]["enum"]) >= {"lean", "alpaca", "unknown"}
    assert executions["fallback"]["type"] == "boolean"
    runs = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/research/runs"]["get"]["parameters"]}
    assert {"passed", "failed", "skipped"} <= set(runs["status"]["enum"])
    stats = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/trading/route-stats"]["get"]["parameters"]}
    assert stats["bucket"]["enum"] == ["day", "hour"] and stats["since"]["format"] == "date-time"


def test_decimal_strings_carry_the_decimal_pattern(schema):
    pattern = component(schema, "FoldV1")["properties"]["net_pnl"]["pattern"]
    assert pattern == f"^{decimal_pattern(24, 8).pattern}$"  # the numeric(24, 8) columns' shape
    decimal = {"type": "string", "pattern": pattern}
    execution = component(schema, "ExecutionOut")["properties"]
    for name in ("submitted_qty", "filled_qty", "avg_fill_price"):
        assert decimal.items() <= execution[name].items(), name
    assert execution["avg_fill_price"]["nullable"] is True and "nullable" not in execution["filled_qty"]
    fold = component(schema, "FoldV1")["properties"]
    for name in ("gross_pnl", "net_pnl", "max_drawdown", "turnover_ratio", "cost_bps", "sharpe"):
        assert decimal.items() <= fold[name].items(), name
    assert fold["sharpe"]["nullable"] is True
    assert decimal.items() <= component(schema, "FeaturesV1")["properties"]["null_rate"]["additionalProperties"].items()
    order = component(schema, "OrderInRequest")["properties"]
    for name in ("qty", "limit_price", "decision_price"):
        assert decimal.items() <= order[name].items(), name


DECIMAL_SAMPLES = [
    ("101.25", True), ("-0.5", True), ("100", True), ("1234567890123456.12345678", True),
    ("12345678901234567", False), ("0.123456789", False), ("1e3", False), ("+1", False), (".5", False),
    ("1.", False), ("NaN", False), ("\u0661", False), ("", False), ("1\n", False), (" 10", False),
]


def _accepts(validate) -> bool:
    from pydantic import ValidationError

    try:
        validate()
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("text", "valid"), DECIMAL_SAMPLES)
def test_the_documented_decimal_pattern_is_what_the_api_takes(schema, text, valid):
    from pydantic import TypeAdapter

    from execution.schemas import OrderIn

    documented = component(schema, "FoldV1")["properties"]["net_pnl"]["pattern"]
    # JSON Schema's "$" is the end of the text; Python's also matches before a final newline.
    assert bool(re.fullmatch(documented.removeprefix("^").removesuffix("$"), text)) is valid
    assert _accepts(lambda: TypeAdapter(DecimalStr).validate_python(text)) is valid
    order = {"client_order_id": "c-1", "strategy": "s", "symbol": "AAPL", "side": "buy", "qty": text}
    positive = valid and not text.startswith("-")
    assert _accepts(lambda: OrderIn.model_validate(order)) is positive


def test_order_amounts_are_strings_as_documented():
    from execution.schemas import OrderIn

    order = {"client_order_id": "c-1", "strategy": "s", "symbol": "AAPL", "side": "buy"}
    assert _accepts(lambda: OrderIn.model_validate({**order, "qty": "10"}))
    assert not _accepts(lambda: OrderIn.model_validate({**order, "qty": 10}))


def test_symbols_are_documented_as_accepted(schema):
    symbol = component(schema, "OrderInRequest")["properties"]["symbol"]
    assert re.fullmatch(symbol["pattern"].strip("^$"), "aapl"), "lower case is accepted (and stored upper case)"


# --- the JSON Schema 2020-12 -> OpenAPI 3.0 conversion -------------------------------------------

@pytest.mark.parametrize(("given", "expected"), [
    ({"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
     {"type": "string", "nullable": True, "default": None}),
    ({"anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "null"}]},
     {"allOf": [{"$ref": "#/components/schemas/A"}], "nullable": True}),
    ({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]},
     {"anyOf": [{"type": "string"}, {"type": "number"}], "nullable": True}),
    ({"type": ["integer", "null"]}, {"type": "integer", "nullable": True}),
    ({"enum": ["a", "b"], "anyOf": [{"type": "string"}, {"type": "null"}]},
     {"enum": ["a", "b", None], "type": "string", "nullable": True}),
    ({"const": "torghut.research-run/v1", "type": "string"}, {"enum": ["torghut.research-run/v1"], "type": "string"}),
    ({"type": "number", "exclusiveMinimum": 0}, {"type": "number", "minimum": 0, "exclusiveMinimum": True}),
    ({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
     {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "minItems": 2, "maxItems": 2}),
    ({"type": "string", "examples": ["x", "y"]}, {"type": "string", "example": "x"}),
    ({"type": "object", "propertyNames": {"maxLength": 3}}, {"type": "object", "x-propertyNames": {"maxLength": 3}}),
    ({"type": "object", "properties": {"a": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}},
     {"type": "object", "properties": {"a": {"type": "integer", "nullable": True}}}),
])
def test_json_schema_2020_becomes_openapi_30(given, expected):
    assert to_openapi_30(given) == expected
