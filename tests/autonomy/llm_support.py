"""Fixtures and helpers of the LLM governance tests (imported by the test modules that use them)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from autonomy import services
from autonomy.choices import LlmStage
from autonomy.models import LlmGovernance
from strategies.choices import STAGES
from strategies.models import Strategy
from strategies.services import strategy_register

OPERATOR_ROLES = frozenset({"operator"})


def strategy_at(name: str, stage: str) -> Strategy:
    """A known strategy moved up to ``stage`` one step at a time (as promotions would)."""
    strategy = strategy_register(name=name)
    for step in STAGES[1:STAGES.index(stage) + 1]:
        Strategy.objects.filter(pk=strategy.pk).update(stage=step)
    strategy.refresh_from_db()
    return strategy


@pytest.fixture
def paper(db):
    return strategy_at("llm_paper", "paper")


@pytest.fixture
def live(db):
    return strategy_at("llm_live", "live")


def allow(model: str = "claude-test", prompt: str = "p-1") -> None:
    services.llm_allowlist_set(kind="model", value=model, allowed=True, reason="evaluated", actor="ops",
                               roles=OPERATOR_ROLES)
    services.llm_allowlist_set(kind="prompt_version", value=prompt, allowed=True, reason="evaluated", actor="ops",
                               roles=OPERATOR_ROLES)


def force_stage(stage: str, *, shadow_since: datetime | None = None) -> None:
    """Put the stage where a test needs it without the evidence rules (the FSM trigger still holds:
    steps are taken one at a time). Stage changes themselves are tested through the service."""
    row, _ = LlmGovernance.objects.get_or_create(id=1)
    since = shadow_since or timezone.now() - timedelta(days=30)
    for step in LlmStage.values[1:LlmStage.values.index(stage) + 1]:
        LlmGovernance.objects.filter(id=1).update(stage=step, shadow_since=since)


def review_body(client_order_id: str = "ord-1", **overrides) -> dict[str, Any]:
    body = {"client_order_id": client_order_id, "model": "claude-test", "prompt_version": "p-1",
            "verdict": "approve", "confidence": 0.9, "rationale": "spread is tight", "risk_flags": []}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def described(strategy: str = "llm_paper", **overrides) -> dict[str, Any]:
    return {"strategy": strategy, "symbol": "AAPL", "side": "buy", "qty": "100", "type": "market", **overrides}
