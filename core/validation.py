"""pydantic validation errors as the API reports them: ``{"field.path[0].x": [messages]}``."""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def error_path(loc: tuple[Any, ...]) -> str:
    """``("candidates", 0, "folds", 1, "x")`` -> ``candidates[0].folds[1].x``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"function-after", "function-before"} or str(part).startswith(("function-", "constrained-")):
            continue
        else:
            out += ("." if out else "") + ("from" if part == "from_" else str(part))
    return out or "(root)"


def validation_details(exc: ValidationError) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        message = err["msg"].removeprefix("Value error, ")
        fields.setdefault(error_path(tuple(err["loc"])), []).append(message)
    return fields
