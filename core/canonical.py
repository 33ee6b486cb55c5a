"""Canonical JSON and content hashes: the one definition used for artifacts and signatures.

Canonical JSON = keys sorted, separators ``,`` and ``:``, no insignificant white space,
UTF-8. ``artifact_sha256`` is the hex SHA-256 of those bytes.
"""
from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> bytes:
    return _ENCODER.encode(value).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_sha256(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of ``value``."""
    return sha256_hex(canonical_json(value))


def decimal_str(value: Decimal | None) -> str | None:
    """A decimal as a plain fixed-point string without trailing zeros ("101.25", "100")."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", ""} else text
