"""Writes of the strategies app."""
from __future__ import annotations

from strategies.models import Strategy


def strategy_register(*, name: str) -> Strategy:
    """Record a strategy on first sight (the research ledger calls this for every run it stores).

    Idempotent; safe under concurrent writers (``INSERT ... ON CONFLICT DO NOTHING``).
    """
    strategy, _ = Strategy.objects.get_or_create(name=name)
    return strategy
