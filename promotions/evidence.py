"""Operational evidence the gates read, collected from the apps that own it.

Promotions may not import execution (execution imports promotions), so the apps that own
evidence register a provider here (``execution`` in its ``AppConfig.ready``): a function of
``(strategy_id, now)`` returning plain JSON data. What a gate reads is the snapshot stored with
the evaluation, so a replay sees exactly what the evaluation saw.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Provider = Callable[..., dict]
_PROVIDERS: dict[str, Provider] = {}


def register(name: str, provider: Provider) -> None:
    """Make ``provider(strategy_id=..., now=...)`` supply ``operations[name]``."""
    _PROVIDERS[name] = provider


def collect(*, strategy_id: int, now: datetime) -> dict[str, dict]:
    return {name: provider(strategy_id=strategy_id, now=now) for name, provider in sorted(_PROVIDERS.items())}
