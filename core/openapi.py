"""How the API describes itself: the OpenAPI schema at ``/api/v1/schema``.

Three pieces, each defined once:

- :class:`AutoSchema` documents the error answers every operation can give, all with the one
  ``Error`` component (the envelope of :func:`core.api.error_body`). Common answers are
  derived from the operation itself (401/403/406/429/503 everywhere, 400 when it takes input, 404 when
  its path names something, 413/415 when it takes a body); a view declares only what is its own
  (``409: error_response("run_conflict: ...")``). It also marks optional query parameters
  ``allowEmptyValue``: an empty one (``?status=``) means the same as none, as in an HTML form.
- :class:`PydanticModelExtension` documents pydantic request models as they *validate* (what a
  client may send) and response models as they *serialize* (what a client receives).
- :func:`openapi_30` rewrites what pydantic emits in JSON Schema 2020-12 into OpenAPI 3.0:
  ``nullable: true`` instead of ``anyOf [..., {"type": "null"}]``, ``enum`` instead of ``const``,
  boolean ``exclusiveMinimum``/``exclusiveMaximum``, ``example`` instead of ``examples``.

The schema is checked against the running API by a property-based run (``tests/test_api_fuzz.py``).
"""
from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.contrib.pydantic import PydanticExtension
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import ResolvedComponent, warn
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

ERROR_CODE_PATTERN = r"^[a-z][a-z0-9_]*$"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": 'Every error answer: {"error": {"code", "message", "details"}}.',
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "pattern": ERROR_CODE_PATTERN,
                         "description": "Stable snake_case code to branch on (e.g. `run_conflict`)."},
                "message": {"type": "string", "description": "Human-readable explanation."},
                "details": {"type": "object", "additionalProperties": True,
                            "description": "Structured context; validation errors list field paths under "
                                           "`fields` (`{\"candidates[0].folds[2].test_start\": [messages]}`)."},
            },
        },
    },
}


class ErrorSerializer(serializers.Serializer):
    """Stands for the error envelope in ``@extend_schema``; documented by :class:`ErrorExtension`."""


class ErrorExtension(OpenApiSerializerExtension):
    target_class = ErrorSerializer

    def get_name(self, auto_schema, direction):
        return "Error"

    def map_serializer(self, auto_schema, direction):
        return ERROR_SCHEMA


def error_response(description: str) -> OpenApiResponse:
    """An error answer specific to one view, e.g. ``{409: error_response("run_conflict: ...")}``."""
    return OpenApiResponse(ErrorSerializer, description=description)


# Answers any operation may give, and when. The descriptions name the codes agents see.
UNAUTHENTICATED = "`not_authenticated` (no credentials) or `authentication_failed` (unknown, revoked or expired token)."
FORBIDDEN = "`permission_denied`: the caller's roles do not allow this operation."
THROTTLED = "`throttled`: the token's request budget is spent; retry after `details.wait_seconds` (also `Retry-After`)."
UNAVAILABLE = ("`database_unavailable`: the database cannot be reached; retry after `Retry-After` seconds (an order "
               "retried with the same `client_order_id` is never placed twice).")
INVALID_QUERY = "`invalid`: a query parameter is not valid; `details.fields` names it."
INVALID_BODY = ("`invalid`: the input is not valid (`details.fields` names field paths); `invalid_json`: the body "
                "is not well-formed JSON; `duplicate_key`: a JSON object repeats a key.")
NOT_FOUND = "`not_found`: nothing by that name, or nothing the caller may see."
TOO_LARGE = "`payload_too_large`: the body is larger than the server accepts."
UNSUPPORTED_MEDIA = "`unsupported_media_type`: the body must be `application/json`."
NOT_ACCEPTABLE = "`not_acceptable`: the `Accept` header rules out `application/json`."


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus the error answers of every operation (see module doc)."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        paginator = self._get_paginator() if self._lists() else None
        if paginator is not None:  # the paginator's own cursor and limit (with its bounds), whatever a view says
            own = {p["name"]: p for p in paginator.get_schema_operation_parameters(self.view)}
            operation["parameters"] = [own.pop(p["name"], p) for p in operation.get("parameters", [])
                                       ] + list(own.values())
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and not parameter.get("required"):
                # Like an HTML form's empty field: ``?status=`` is the same as no ``status``.
                parameter["allowEmptyValue"] = True
        responses = operation["responses"]
        for code, description in self._common_errors(operation).items():
            responses.setdefault(code, {"description": description})
        error = self._error_content()
        for code, response in responses.items():
            if int(code) >= 400 and "content" not in response:
                response["content"] = error
            if code in ("429", "503"):
                response.setdefault("headers", {})["Retry-After"] = {
                    "schema": {"type": "integer", "minimum": 0}, "description": "Seconds to wait."}
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _lists(self) -> bool:
        """A list endpoint: a ListAPIView, or a view whose 200 is declared as a page (``page_schema``)."""
        return self._is_list_view() or self._declares_page()

    def _declares_page(self) -> bool:
        declared = self.get_response_serializers()
        page = declared.get(200) if isinstance(declared, dict) else None
        return (self.method == "GET" and isinstance(page, dict)
                and set(page.get("properties", {})) == {"results", "next"})

    def get_filter_backends(self):
        return getattr(self.view, "filter_backends", []) if self._lists() else []

    def _common_errors(self, operation: dict[str, Any]) -> dict[str, str]:
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        errors: dict[str, str] = {}
        if has_body:
            errors["400"] = INVALID_BODY
            errors["413"] = TOO_LARGE
            errors["415"] = UNSUPPORTED_MEDIA
        elif any(p["in"] == "query" for p in parameters):
            errors["400"] = INVALID_QUERY
        if any(p["in"] == "path" for p in parameters):
            errors["404"] = NOT_FOUND
        if operation.get("security"):
            errors["401"] = UNAUTHENTICATED
            errors["403"] = FORBIDDEN
        errors["406"] = NOT_ACCEPTABLE
        errors["429"] = THROTTLED
        errors["503"] = UNAVAILABLE
        return errors

    def _error_content(self) -> dict[str, Any]:
        component = self.resolve_serializer(ErrorSerializer, "response")
        return {media_type: {"schema": component.ref} for media_type in self.map_renderers("media_type")}


class PydanticModelExtension(PydanticExtension):
    """Request models as they validate, response models as they serialize.

    drf-spectacular's own extension uses the serialization schema both ways; for a request that
    can hide what the endpoint accepts (a field whose input type is not its output type).
    """

    priority = 1

    def map_serializer(self, auto_schema, direction):
        from pydantic.json_schema import model_json_schema

        mode = "validation" if direction == "request" else "serialization"
        schema = model_json_schema(self.target, ref_template="#/components/schemas/{model}", mode=mode)
        for name, sub_schema in schema.pop("$defs", {}).items():
            component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=sub_schema)
            known = auto_schema.registry._components.get(component.key)
            if known is not None and known.schema != sub_schema:
                warn(f"pydantic model {name} differs between request and response; give one of them another name")
            auto_schema.registry.register_on_missing(component)
        return schema


# --- JSON Schema 2020-12 (pydantic) -> OpenAPI 3.0 ------------------------------------------------

def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null" and len(schema) == 1


def to_openapi_30(schema: Any) -> Any:
    """One JSON schema (recursively) rewritten in OpenAPI 3.0's dialect."""
    if isinstance(schema, list):
        return [to_openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: to_openapi_30(value) if key not in ("example", "default", "enum") else value
              for key, value in schema.items()}
    for keyword in ("anyOf", "oneOf"):
        options = schema.get(keyword)
        if isinstance(options, list) and any(_is_null(option) for option in options):
            rest = [option for option in options if not _is_null(option)]
            del schema[keyword]
            if len(rest) == 1 and "$ref" not in rest[0]:
                schema = {**rest[0], **schema}
            elif len(rest) == 1:
                schema["allOf"] = rest
            else:
                schema[keyword] = rest
            schema["nullable"] = True
            if "enum" in schema and None not in schema["enum"]:
                schema["enum"] = [*schema["enum"], None]
    if isinstance(schema.get("type"), list):  # {"type": ["string", "null"]}
        types = schema.pop("type")
        if "null" in types:
            schema["nullable"] = True
            types = [t for t in types if t != "null"]
        if len(types) == 1:
            schema["type"] = types[0]
        elif types:
            schema["anyOf"] = [{"type": t} for t in types]
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        value = schema.get(exclusive)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            schema[bound] = value
            schema[exclusive] = True
    if "examples" in schema and isinstance(schema["examples"], list):
        examples = schema.pop("examples")
        if examples:
            schema.setdefault("example", examples[0])
    if "prefixItems" in schema:  # a fixed-length tuple: OpenAPI 3.0 can only say "items of these kinds"
        items = schema.pop("prefixItems")
        schema.setdefault("items", items[0] if len(items) == 1 else {"anyOf": items})
        schema.setdefault("minItems", len(items))
        schema.setdefault("maxItems", len(items))
    if "$defs" in schema:
        schema.pop("$defs")
        warn("a schema kept nested $defs; pydantic models should be resolved into components")
    if "propertyNames" in schema:  # not an OpenAPI 3.0 keyword: keep it as documentation
        schema["x-propertyNames"] = schema.pop("propertyNames")
    return schema


def openapi_30(result, generator, request, public):
    """drf-spectacular postprocessing hook: every schema in OpenAPI 3.0's dialect."""
    components = result.get("components", {})
    components["schemas"] = {name: to_openapi_30(schema) for name, schema in components.get("schemas", {}).items()}
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if "schema" in parameter:
                    parameter["schema"] = to_openapi_30(parameter["schema"])
            for holder in [operation.get("requestBody", {}), *operation.get("responses", {}).values()]:
                for media in holder.get("content", {}).values():
                    if "schema" in media:
                        media["schema"] = to_openapi_30(media["schema"])
    return result
