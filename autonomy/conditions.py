"""Kill conditions as pure functions over plain data. Services load the inputs, call these and store
each evaluation that changes something (``ConditionEvaluation``) with its inputs."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

from core.canonical import decimal_str


@dataclass(frozen=True)
class BudgetFacts:
    name: str
    limit: Decimal
    used: Decimal  # before this use
    amount: Decimal = Decimal(0)  # what this order, fill or review would add
    on_breach: str = "HALTED"

    def as_json(self) -> dict:
        return {k: decimal_str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}


def budget_in_breach(b: BudgetFacts) -> bool:
    """Usage already past the limit (before anything is added)."""
    return b.used > b.limit


def budget_would_breach(b: BudgetFacts) -> bool:
    """Adding ``amount`` would take usage past the limit (a zero amount never breaches anew)."""
    return b.amount > 0 and b.used + b.amount > b.limit
