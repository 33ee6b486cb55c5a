"""Reads of the autonomy controls (used by execution before any order leaves)."""
from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Count

from autonomy.choices import AlertSeverity, AlertStatus, IncidentStatus, SymbolMode, TradingStateChoice
from autonomy.models import (
    Alert,
    AlertDelivery,
    ConditionEvaluation,
    Incident,
    LeanRecovery,
    SignalSource,
    SymbolControl,
    TradingState,
)


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


# =============================================================================================
# Alerts, heartbeats and conditions (alerts worker)
# =============================================================================================

def alert_list():
    """Alerts, newest first (the API and the alerts page filter it with ``autonomy.filters.AlertFilter``)."""
    return Alert.objects.order_by("-id")


def alert_get(*, alert_id: int) -> Alert | None:
    return Alert.objects.filter(pk=alert_id).first()


def critical_alerts_unresolved(limit: int = 5) -> list[Alert]:
    """Unresolved critical alerts, open ones first (the banner on every page)."""
    return list(Alert.objects.filter(severity=AlertSeverity.CRITICAL).exclude(status=AlertStatus.RESOLVED)
                .order_by("-status", "-id")[:limit])  # "open" sorts after "acknowledged": descending puts it first


def alerts_open_by_severity() -> dict[str, int]:
    """Unresolved alerts per severity, every severity present (zero included)."""
    counts = dict(Alert.objects.exclude(status=AlertStatus.RESOLVED).values_list("severity")
                  .annotate(n=Count("id")).values_list("severity", "n"))
    return {severity: counts.get(severity, 0) for severity in AlertSeverity.values}


def delivery_list():
    return AlertDelivery.objects.select_related("alert").order_by("-id")


def signal_sources() -> list[SignalSource]:
    return list(SignalSource.objects.order_by("source", "symbol"))


def lean_recovery_watching() -> bool:
    """The LEAN circuit disabled the lane and waits for it to come back."""
    return LeanRecovery.objects.filter(id=1, tripped=True).exists()


def condition_evaluations(*, kind: str | None = None, limit: int = 50) -> list[ConditionEvaluation]:
    qs = ConditionEvaluation.objects.order_by("-id")
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs[:limit])


def incidents_open() -> list[Incident]:
    return list(Incident.objects.filter(status=IncidentStatus.OPEN).order_by("-id"))
