"""Differences between two policy documents, path by path (pure)."""
from __future__ import annotations

from typing import Any

MISSING = None


def policy_diff(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """``[(path, value in a, value in b)]`` for every leaf that differs; absent is ``None``."""
    if isinstance(a, dict) and isinstance(b, dict):
        rows: list[tuple[str, Any, Any]] = []
        for key in sorted(set(a) | set(b)):
            child = f"{path}.{key}" if path else str(key)
            rows += policy_diff(a.get(key, MISSING), b.get(key, MISSING), child)
        return rows
    return [] if a == b else [(path or "(root)", a, b)]
