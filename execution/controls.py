"""The seam between order flow and the control flags (423 answers).

The decision is :func:`autonomy.admission.admission_block`, a pure function the kill-switch drill
shares: ``trading_halted``, ``symbol_disabled``, ``strategy_not_live`` (a strategy no research run
named, or one at shadow) and ``canary_cap_exceeded`` (the active gate policy's caps for a strategy
at canary). The flags and the strategy's stage are read in one query; the canary caps and the day's
canary notional only for a strategy at canary.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from autonomy.admission import AdmissionFacts, admission_block
from autonomy.selectors import order_flags_get
from strategies.choices import Stage


@dataclass(frozen=True)
class OrderControls:
    block: tuple[str, str] | None
    lean_enabled: bool
    strategy_id: int | None
    stage: str | None


def order_controls(*, strategy: str, symbol: str, notional: Decimal | None = None) -> OrderControls:
    """The flags an order needs, read once: what blocks it (if anything), whether the LEAN lane is on,
    and the strategy's id and stage (recorded on the execution row)."""
    flags = order_flags_get(symbol=symbol, strategy=strategy)
    caps, today = None, Decimal(0)
    if flags.stage == Stage.CANARY:
        from execution.selectors import canary_notional_today
        from promotions.selectors import canary_caps

        caps, today = canary_caps(), canary_notional_today(strategy_id=flags.strategy_id)
    facts = AdmissionFacts(
        trading_state=flags.trading.trading_state, trading_reason=flags.trading.trading_reason, symbol=symbol,
        symbol_mode=flags.symbol_mode, symbol_reason=flags.symbol_reason, strategy=strategy,
        strategy_known=flags.strategy_id is not None, stage=flags.stage, notional=notional, canary_caps=caps,
        canary_notional_today=today)
    return OrderControls(block=admission_block(facts), lean_enabled=flags.trading.lean_enabled,
                         strategy_id=flags.strategy_id, stage=flags.stage)
