"""Order admission as a pure function of the control flags (execution calls it for every order inside
its admission transaction; the kill-switch drill calls it with a simulated HALTED state, so both judge
the same way).

The checks, in order; the first that refuses answers (423):

1. the strictest of the global state, the strategy's state and the breach state of every budget already
   past its limit: HALTED refuses everything (``trading_halted``; ``budget_exceeded`` when a budget
   breach is what halts);
2. a disabled symbol (``symbol_disabled``);
3. a strategy the plane does not know, or one at shadow (``strategy_not_live``);
4. REDUCING admits only an order that reduces the strategy's position in that symbol and, with the
   orders already open on that side, never flips it (``trading_reducing``);
5. a symbol in canary mode: its caps per order (quantity, notional) and per day (notional)
   (``canary_cap_exceeded``);
6. a strategy at canary: the active gate policy's caps (``canary_cap_exceeded``);
7. the budgets this order consumes (order count, gross notional): one that would pass its limit refuses
   the order and is a breach (``budget_exceeded``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from autonomy.choices import SymbolMode, TradingStateChoice, strictest
from autonomy.conditions import BudgetFacts, budget_in_breach, budget_would_breach
from autonomy.positions import order_reduces
from strategies.choices import Stage

ZERO = Decimal(0)


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
    canary_caps: dict | None = None  # the gate policy's {"max_notional_per_order", "max_notional_per_day"}
    canary_notional_today: Decimal = ZERO
    strategy_state: str = TradingStateChoice.ACTIVE
    strategy_reason: str = ""
    side: str = "buy"
    qty: Decimal | None = None
    position_qty: Decimal = ZERO  # the strategy's position in the symbol, from stored fills
    open_reducing_qty: Decimal = ZERO  # what its open orders on this order's side may still fill
    symbol_caps: dict | None = None  # {"max_qty_per_order", "max_notional_per_order", "max_notional_per_day"}
    symbol_notional_today: Decimal = ZERO
    budgets: tuple[BudgetFacts, ...] = ()


@dataclass(frozen=True)
class AdmissionDecision:
    code: str | None = None
    message: str = ""
    breached_budgets: tuple[str, ...] = field(default=())  # budgets this order would have taken past the limit
    http_status: int = 423  # a control flag; 422 for an order its LLM review's adjustment does not match

    @property
    def block(self) -> tuple[str, str] | None:
        return (self.code, self.message) if self.code else None


def effective_state(f: AdmissionFacts) -> tuple[str, str, str]:
    """``(state, who, reason)``: the strictest state applying to the order, and where it comes from
    (``global``, ``strategy`` or ``budget:<name>``)."""
    candidates = [(f.trading_state, "global", f.trading_reason), (f.strategy_state, "strategy", f.strategy_reason)]
    candidates += [(b.on_breach, f"budget:{b.name}", f"{b.name} used {b.used} of {b.limit}")
                   for b in f.budgets if budget_in_breach(b)]
    state = strictest(*(c[0] for c in candidates))
    # the first source holding that state names it (global before strategy before budgets)
    for s, who, reason in candidates:
        if s == state:
            return state, who, reason
    return state, "global", f.trading_reason  # pragma: no cover - strictest() returns one of them


def admission_decide(f: AdmissionFacts) -> AdmissionDecision:
    state, who, reason = effective_state(f)
    why = f": {reason}" if reason else ""
    if state == TradingStateChoice.HALTED:
        if who.startswith("budget:"):
            return AdmissionDecision("budget_exceeded", f"Budget {who[7:]} is breached ({reason}): trading is halted "
                                                         "until an operator lifts it.")
        scope = "Trading" if who == "global" else f"Trading of strategy {f.strategy!r}"
        return AdmissionDecision("trading_halted", f"{scope} is halted{why}.")
    if f.symbol_mode == SymbolMode.DISABLED:
        sym_why = f": {f.symbol_reason}" if f.symbol_reason else ""
        return AdmissionDecision("symbol_disabled", f"Symbol {f.symbol.upper()} is disabled{sym_why}.")
    if not f.strategy_known:
        return AdmissionDecision("strategy_not_live", (
            f"Strategy {f.strategy!r} is not known to the plane: a strategy is known once a research run names "
            "it, and trades once it is promoted."))
    if f.stage in (None, Stage.SHADOW):
        return AdmissionDecision("strategy_not_live", (
            f"Strategy {f.strategy!r} is at shadow: it trades once a promotion moves it to paper, canary or live."))
    if state == TradingStateChoice.REDUCING and not order_reduces(
            position_qty=f.position_qty, open_reducing_qty=f.open_reducing_qty, side=f.side, qty=f.qty or ZERO):
        code = "budget_exceeded" if who.startswith("budget:") else "trading_reducing"
        return AdmissionDecision(code, (
            f"{'Trading' if who == 'global' else who.capitalize()} is REDUCING{why}: only an order that reduces "
            f"{f.strategy!r}'s position in {f.symbol.upper()} ({f.position_qty}, with {f.open_reducing_qty} already "
            f"open against it) without flipping it is admitted."))
    if f.symbol_mode == SymbolMode.CANARY and (refusal := _symbol_caps_block(f)):
        return AdmissionDecision("canary_cap_exceeded", refusal)
    if f.stage == Stage.CANARY and (refusal := _canary_block(f)):
        return AdmissionDecision("canary_cap_exceeded", refusal)
    breached = tuple(b.name for b in f.budgets if budget_would_breach(b))
    if breached:
        first = next(b for b in f.budgets if b.name == breached[0])
        return AdmissionDecision("budget_exceeded", (
            f"Budget {first.name} would pass its limit of {first.limit} today (used {first.used}, this order "
            f"{first.amount}): the order is refused and trading moves to {first.on_breach}."), breached)
    return AdmissionDecision()


def admission_block(f: AdmissionFacts) -> tuple[str, str] | None:
    """``(code, message)`` of the first control that refuses the order, or None to admit it."""
    return admission_decide(f).block


def _symbol_caps_block(f: AdmissionFacts) -> str | None:
    caps = {k: v for k, v in (f.symbol_caps or {}).items() if v is not None}
    sym = f.symbol.upper()
    if "max_qty_per_order" in caps and (f.qty or ZERO) > Decimal(caps["max_qty_per_order"]):
        return f"Order quantity {f.qty} exceeds {sym}'s canary cap of {caps['max_qty_per_order']} per order."
    if not ({"max_notional_per_order", "max_notional_per_day"} & caps.keys()):
        return None
    if f.notional is None:
        return (f"Symbol {sym} is in canary mode with notional caps: its orders need a limit_price or a "
                "decision_price so the caps can be checked.")
    if "max_notional_per_order" in caps and f.notional > Decimal(caps["max_notional_per_order"]):
        return (f"Order notional {f.notional} exceeds {sym}'s canary cap of {caps['max_notional_per_order']} "
                "per order.")
    if "max_notional_per_day" in caps and f.symbol_notional_today + f.notional > Decimal(caps["max_notional_per_day"]):
        return (f"{sym} has traded {f.symbol_notional_today} today; this order would pass its canary cap of "
                f"{caps['max_notional_per_day']} per day.")
    return None


def _canary_block(f: AdmissionFacts) -> str | None:
    caps = f.canary_caps or {}
    if not caps:
        return None
    per_order, per_day = Decimal(caps["max_notional_per_order"]), Decimal(caps["max_notional_per_day"])
    if f.notional is None:
        return (f"Strategy {f.strategy!r} is at canary: its orders need a limit_price or a decision_price so the "
                "canary caps can be checked.")
    if f.notional > per_order:
        return (f"Order notional {f.notional} exceeds the canary cap of {per_order} per order for strategy "
                f"{f.strategy!r}.")
    if f.canary_notional_today + f.notional > per_day:
        return (f"Strategy {f.strategy!r} has traded {f.canary_notional_today} at canary today; this order would "
                f"pass the cap of {per_day} per day.")
    return None
