"""Order admission as a pure function of the control flags (execution calls it for every order;
the kill-switch drill calls it with a simulated HALTED state, so both judge the same way)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from autonomy.choices import SymbolMode, TradingStateChoice
from strategies.choices import Stage


@dataclass(frozen=True)
class AdmissionFacts:
    trading_state: str
    trading_reason: str
    symbol: str
    symbol_mode: str
    symbol_reason: str
    strategy: str
    strategy_known: bool
    stage: str | None
    notional: Decimal | None = None  # qty x (limit or decision price); None when unpriced
    canary_caps: dict | None = None  # {"max_notional_per_order", "max_notional_per_day"}
    canary_notional_today: Decimal = Decimal(0)


def admission_block(f: AdmissionFacts) -> tuple[str, str] | None:
    """``(code, message)`` of the first control that refuses the order, or None to admit it."""
    if f.trading_state == TradingStateChoice.HALTED:
        why = f": {f.trading_reason}" if f.trading_reason else ""
        return "trading_halted", f"Trading is halted{why}."
    if f.symbol_mode == SymbolMode.DISABLED:
        why = f": {f.symbol_reason}" if f.symbol_reason else ""
        return "symbol_disabled", f"Symbol {f.symbol.upper()} is disabled{why}."
    if not f.strategy_known:
        return "strategy_not_live", (f"Strategy {f.strategy!r} is not known to the plane: a strategy is known once "
                                     "a research run names it, and trades once it is promoted.")
    if f.stage in (None, Stage.SHADOW):
        return "strategy_not_live", (f"Strategy {f.strategy!r} is at shadow: it trades once a promotion moves it to "
                                     "paper, canary or live.")
    if f.stage == Stage.CANARY:
        return _canary_block(f)
    return None


def _canary_block(f: AdmissionFacts) -> tuple[str, str] | None:
    caps = f.canary_caps or {}
    if not caps:
        return None
    per_order, per_day = Decimal(caps["max_notional_per_order"]), Decimal(caps["max_notional_per_day"])
    if f.notional is None:
        return "canary_cap_exceeded", (f"Strategy {f.strategy!r} is at canary: its orders need a limit_price or a "
                                       "decision_price so the canary caps can be checked.")
    if f.notional > per_order:
        return "canary_cap_exceeded", (f"Order notional {f.notional} exceeds the canary cap of {per_order} per order "
                                       f"for strategy {f.strategy!r}.")
    if f.canary_notional_today + f.notional > per_day:
        return "canary_cap_exceeded", (f"Strategy {f.strategy!r} has traded {f.canary_notional_today} at canary today; "
                                       f"this order would pass the cap of {per_day} per day.")
    return None
