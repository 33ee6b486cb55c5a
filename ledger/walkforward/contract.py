"""Check an engine artifact against the ledger's own ``torghut.research-run/v1`` schema.

There is one definition of the contract, :mod:`ledger.schemas` (the strict writer validates
with it); this wrapper lets the engine and its tests ask that same schema without a database.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from core.validation import validation_details
from ledger.schemas import parse_artifact


def validate_artifact(artifact: Any) -> list[str]:
    """Problems as ``"<field path>: <message>"`` lines; empty when the artifact is valid."""
    try:
        parse_artifact(artifact)
    except ValidationError as exc:
        return [f"{path}: {msg}" for path, msgs in validation_details(exc).items() for msg in msgs]
    except KeyError:
        return ["schema_version: unknown schema version"]
    except ValueError as exc:
        return [f"(root): {exc}"]
    return []
