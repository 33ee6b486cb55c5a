"""The DRF parser of every API body (``DEFAULT_PARSER_CLASSES``)."""
from __future__ import annotations

from django.conf import settings
from rest_framework.parsers import BaseParser

from core.errors import InvalidInput, PayloadTooLarge
from core.jsonparse import JSONRefused, strict_loads


class StrictJSONParser(BaseParser):
    """DRF parser for every API body: at most ``API_MAX_BODY_BYTES`` (413 ``payload_too_large``),
    then :func:`strict_loads` (400 ``invalid_json`` / ``duplicate_key``)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            declared = 0
        if declared > limit:
            raise PayloadTooLarge.for_limit(limit)
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise PayloadTooLarge.for_limit(limit)
        try:
            return strict_loads(data)
        except JSONRefused as exc:
            raise InvalidInput(exc.message, code=exc.code, details=exc.details) from None
