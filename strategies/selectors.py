"""Reads of the strategies app."""
from __future__ import annotations

from strategies.models import Strategy


def strategy_id_by_name(*, name: str) -> int | None:
    return Strategy.objects.filter(name=name).values_list("pk", flat=True).first()


def strategy_get(*, name: str) -> Strategy:
    """Raises ``Strategy.DoesNotExist`` when no research run has named it."""
    return Strategy.objects.get(name=name)
