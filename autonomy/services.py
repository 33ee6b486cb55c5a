"""Writes of the autonomy controls. Small on purpose; see models.py."""
from __future__ import annotations

from django.db import transaction

from autonomy.choices import SymbolMode, TradingStateChoice
from autonomy.models import SymbolControl, TradingState


def trading_state_set(*, state: str, reason: str = "", actor: str = "") -> TradingState:
    if state not in TradingStateChoice.values:
        raise ValueError(f"Unknown trading state {state!r}; known: {', '.join(TradingStateChoice.values)}.")
    with transaction.atomic():
        row, _ = TradingState.objects.select_for_update().get_or_create(id=1)
        row.state, row.reason, row.updated_by = state, reason, actor
        row.save()
    return row


def lean_lane_set(*, enabled: bool, reason: str = "", actor: str = "") -> TradingState:
    with transaction.atomic():
        row, _ = TradingState.objects.select_for_update().get_or_create(id=1)
        row.lean_enabled = enabled
        row.lean_disabled_reason = "" if enabled else reason
        row.updated_by = actor
        row.save()
    return row


def symbol_mode_set(*, symbol: str, mode: str, reason: str = "", actor: str = "") -> SymbolControl:
    if mode not in SymbolMode.values:
        raise ValueError(f"Unknown symbol mode {mode!r}; known: {', '.join(SymbolMode.values)}.")
    row, _ = SymbolControl.objects.update_or_create(
        symbol=symbol.upper(), defaults={"mode": mode, "reason": reason, "updated_by": actor})
    return row


# --- readiness (Phase D) -----------------------------------------------------------------------

def readiness_snapshot_take(*, actor: str = "system:readiness", now=None):
    """Evaluate the readiness scorecard and store it with the facts it read (the readiness sweep)."""
    from django.utils import timezone

    from autonomy import readiness
    from autonomy.models import ReadinessSnapshot
    from autonomy.selectors import readiness_evaluate

    now = now or timezone.now()
    criteria, facts, window_start = readiness_evaluate(now=now)
    return ReadinessSnapshot.objects.create(at=now, green=readiness.green(criteria), criteria=criteria, facts=facts,
                                            window_start=window_start, created_by=actor)
