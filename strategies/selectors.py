"""Reads of the strategies app."""
from __future__ import annotations

from core.errors import InvalidInput
from strategies.models import Strategy


def strategy_id_by_name(*, name: str) -> int | None:
    return Strategy.objects.filter(name=name).values_list("pk", flat=True).first()


def strategy_get(*, name: str) -> Strategy:
    """Raises ``Strategy.DoesNotExist`` when no research run has named it."""
    return Strategy.objects.get(name=name)


def strategy_known_or_400(*, name: str) -> Strategy:
    """The strategy named in a request body, or 400 ``unknown_strategy`` naming the field ``strategy``."""
    strategy = Strategy.objects.filter(name=name).first()
    if strategy is None:
        raise InvalidInput(f"Unknown strategy {name!r}: a strategy is known once a research run names it.",
                           code="unknown_strategy", details={"fields": {"strategy": ["unknown strategy"]}})
    return strategy
