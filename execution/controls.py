"""The seam between order flow and the autonomy control flags (423 answers).

Today: ``trading_halted`` (trading state HALTED) and ``symbol_disabled`` (symbol mode
disabled). ``strategy_not_live`` needs strategy stages, which do not exist yet; when the
promotions app stores a stage, this function is where it is checked.
"""
from __future__ import annotations

from dataclasses import dataclass

from autonomy.choices import SymbolMode, TradingStateChoice
from autonomy.selectors import ControlSnapshot, order_flags_get


@dataclass(frozen=True)
class OrderControls:
    block: tuple[str, str] | None
    lean_enabled: bool


def order_controls(*, strategy: str, symbol: str) -> OrderControls:
    """The flags an order needs, read once: what blocks it (if anything) and whether the LEAN lane is on."""
    flags = order_flags_get(symbol=symbol)
    return OrderControls(block=_block_reason(flags.trading, flags.symbol_mode, flags.symbol_reason,
                                             strategy=strategy, symbol=symbol),
                         lean_enabled=flags.trading.lean_enabled)


def order_block_reason(*, strategy: str, symbol: str) -> tuple[str, str] | None:
    """``(code, message)`` when a control flag blocks a new order, else None."""
    return order_controls(strategy=strategy, symbol=symbol).block


def _block_reason(state: ControlSnapshot, mode: str, reason: str, *, strategy: str,
                  symbol: str) -> tuple[str, str] | None:
    if state.trading_state == TradingStateChoice.HALTED:
        why = f": {state.trading_reason}" if state.trading_reason else ""
        return "trading_halted", f"Trading is halted{why}."
    if mode == SymbolMode.DISABLED:
        why = f": {reason}" if reason else ""
        return "symbol_disabled", f"Symbol {symbol.upper()} is disabled{why}."
    return None


