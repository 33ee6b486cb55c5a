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
