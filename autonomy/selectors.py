"""Reads of the autonomy controls (used by execution before any order leaves)."""
from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from autonomy.choices import SymbolMode, TradingStateChoice
from autonomy.models import SymbolControl, TradingState


@dataclass(frozen=True)
class ControlSnapshot:
    trading_state: str
    trading_reason: str
    lean_enabled: bool
    lean_disabled_reason: str


def trading_state_get() -> ControlSnapshot:
    row = TradingState.objects.filter(id=1).first()
    if row is None:
        return ControlSnapshot(TradingStateChoice.ACTIVE, "", True, "")
    return ControlSnapshot(row.state, row.reason, row.lean_enabled, row.lean_disabled_reason)


@dataclass(frozen=True)
class OrderFlags:
    trading: ControlSnapshot
    symbol_mode: str
    symbol_reason: str
    strategy_id: int | None = None  # None: no research run has named the strategy
    stage: str | None = None


def order_flags_get(*, symbol: str, strategy: str = "") -> OrderFlags:
    """Trading state, LEAN lane, one symbol's mode and the strategy's stage in a single query
    (read for every order)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ts.state, ts.reason, ts.lean_enabled, ts.lean_disabled_reason, sc.mode, sc.reason, st.id, st.stage"
            " FROM (SELECT 1) AS one"
            " LEFT JOIN autonomy_trading_state ts ON ts.id = 1"
            " LEFT JOIN autonomy_symbol_controls sc ON sc.symbol = %s"
            " LEFT JOIN strategies st ON st.name = %s", [symbol.upper(), strategy])
        state, reason, lean_enabled, lean_reason, mode, mode_reason, strategy_id, stage = cursor.fetchone()
    trading = ControlSnapshot(state or TradingStateChoice.ACTIVE, reason or "",
                              True if lean_enabled is None else lean_enabled, lean_reason or "")
    return OrderFlags(trading, mode or SymbolMode.ENABLED, mode_reason or "", strategy_id, stage)


def symbol_control_list():
    """Every symbol with a non-default mode, alphabetically."""
    return SymbolControl.objects.order_by("symbol")


# --- readiness (Phase D) -----------------------------------------------------------------------

def _readiness_thresholds():
    from django.conf import settings

    from autonomy.readiness import Thresholds

    return Thresholds(max_replay_ms=settings.READINESS_MAX_REPLAY_MS)


def readiness_evaluate(*, now=None) -> tuple[list[dict], dict, object]:
    """(criteria, facts, window_start) measured now, live from the database."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from autonomy import readiness

    now = now or timezone.now()
    window_start = now - timedelta(hours=settings.READINESS_WINDOW_HOURS)
    facts = readiness.collect(window_start=window_start, now=now)
    return readiness.scorecard(facts, _readiness_thresholds()), facts, window_start


def readiness_get(*, now=None) -> dict:
    """``GET /api/v1/readiness``: the criteria measured now, and since when the scorecard has been green
    without a break (the stored snapshots of the readiness sweep, then this measurement)."""
    from django.conf import settings
    from django.utils import timezone

    from autonomy import readiness
    from autonomy.models import ReadinessSnapshot

    now = now or timezone.now()
    criteria, _facts, window_start = readiness_evaluate(now=now)
    green = readiness.green(criteria)
    green_since = None
    if green:
        last_red = (ReadinessSnapshot.objects.filter(green=False, at__lte=now).order_by("-at")
                    .values_list("at", flat=True).first())
        streak = ReadinessSnapshot.objects.filter(green=True, at__lte=now)
        if last_red is not None:
            streak = streak.filter(at__gt=last_red)
        green_since = streak.order_by("at").values_list("at", flat=True).first() or now
    return {"green": green, "green_since": green_since, "criteria": criteria, "evaluated_at": now,
            "window_start": window_start, "required_green_hours": settings.READINESS_GREEN_HOURS}


def readiness_block(*, now=None) -> str | None:
    """Phase D: why enabling the LEAN lane or an LLM stage above stage1 is refused now, or None when the
    scorecard has been green over the configured rolling window (``READINESS_GREEN_HOURS``)."""
    from datetime import timedelta

    from django.utils import timezone

    now = now or timezone.now()
    state = readiness_get(now=now)
    hours = state["required_green_hours"]
    if not state["green"]:
        failing = ", ".join(c["id"] for c in state["criteria"] if c["status"] != "pass")
        return f"The readiness scorecard is not green (failing: {failing})."
    if state["green_since"] > now - timedelta(hours=hours):
        since = state["green_since"].isoformat().replace("+00:00", "Z")
        return f"The readiness scorecard has been green only since {since}; {hours} h of green are required."
    return None


def readiness_history(*, limit: int = 96):
    from autonomy.models import ReadinessSnapshot

    return ReadinessSnapshot.objects.order_by("-at", "-id")[:limit]
