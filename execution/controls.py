"""The seam between order flow and the control flags (423 answers).

Today: ``trading_halted`` (trading state HALTED), ``symbol_disabled`` (symbol mode disabled)
and ``strategy_not_live`` for a strategy the plane does not know (no research run named it).
When the promotions app stores a stage, ``strategy_not_live`` also covers a strategy at shadow.
"""
from __future__ import annotations

from dataclasses import dataclass

from autonomy.choices import SymbolMode, TradingStateChoice
from autonomy.selectors import ControlSnapshot, order_flags_get


@dataclass(frozen=True)
class OrderControls:
    block: tuple[str, str] | None
    lean_enabled: bool


def order_controls(*, strategy: str, symbol: str, strategy_known: bool) -> OrderControls:
    """The flags an order needs, read once: what blocks it (if anything) and whether the LEAN lane is on."""
    flags = order_flags_get(symbol=symbol)
    return OrderControls(block=_block_reason(flags.trading, flags.symbol_mode, flags.symbol_reason,
                                             strategy=strategy, symbol=symbol, strategy_known=strategy_known),
                         lean_enabled=flags.trading.lean_enabled)


def _block_reason(state: ControlSnapshot, mode: str, reason: str, *, strategy: str,
                  symbol: str, strategy_known: bool) -> tuple[str, str] | None:
    if state.trading_state == TradingStateChoice.HALTED:
        why = f": {state.trading_reason}" if state.trading_reason else ""
        return "trading_halted", f"Trading is halted{why}."
    if mode == SymbolMode.DISABLED:
        why = f": {reason}" if reason else ""
        return "symbol_disabled", f"Symbol {symbol.upper()} is disabled{why}."
    if not strategy_known:
        return "strategy_not_live", (f"Strategy {strategy!r} is not known to the plane: a strategy is known once "
                                     "a research run names it, and trades once it is promoted.")
    return None


