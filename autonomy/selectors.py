"""Reads of the autonomy controls (used by execution before any order leaves)."""
from __future__ import annotations

from dataclasses import dataclass

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


def symbol_control_get(*, symbol: str) -> tuple[str, str]:
    """(mode, reason) of a symbol; ``enabled`` when no row exists."""
    row = SymbolControl.objects.filter(symbol=symbol.upper()).values_list("mode", "reason").first()
    return row if row else (SymbolMode.ENABLED, "")
