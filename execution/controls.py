"""The seam between order flow and the control flags (423 answers).

The decision is :func:`autonomy.admission.admission_decide`, a pure function the kill-switch drill
shares. :func:`execution.services.order_submit` takes it one of two ways, on the same facts:

* unlocked, the common case (:func:`order_admission_unlocked`): the controls are read without a lock in the
  round trip that looks the client_order_id up, the order is decided, and an admitted order is inserted by ONE
  statement that adds to its budgets only while they stay within the limits it was admitted under, and holds
  the control version ``FOR SHARE`` (every control change writes a control event, which moves the version):
  the order is stored only if nothing it was decided on changed, else nothing of the statement stays
  (:data:`autonomy.services.ADMISSION_GUARD_CTES`) and the order is admitted the locked way;
* locked (:func:`order_admission`: every refusal, REDUCING, canary, a stale read): the facts are gathered
  INSIDE the admission transaction that ``order_submit`` opens, in which it then inserts the execution row:

1. today's budget rows are locked ``FOR UPDATE`` (created when missing), by name: admissions are
   serialized there, and the order count and gross notional they consume cannot be overtaken;
2. then, in the same statement, the control flags (global and strategy state, the symbol's mode, caps and
   LEAN entry, the LEAN lane, the strategy's stage) are read holding the global row ``FOR SHARE``: a control
   change (which locks it ``FOR UPDATE``) waits for this admission, and one committed before it applies to it;
3. only what the decision needs next: the position and open orders under REDUCING, the symbol's notional
   today in canary mode, the gate policy's caps for a strategy at canary;
4. when the controls admit the order, its LLM review: an order whose client_order_id has one is admitted
   only as the applied verdict lets it (:func:`autonomy.llm_guardrails.llm_block`: 423 ``llm_veto``, 422
   ``llm_adjustment_mismatch``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from autonomy.admission import AdmissionDecision, AdmissionFacts, admission_decide, effective_state
from autonomy.choices import BudgetName, SymbolMode, TradingStateChoice
from autonomy.conditions import BudgetFacts
from autonomy.llm_guardrails import LlmVerdictFacts, OrderShape, llm_block
from autonomy.selectors import AdmissionSnapshot, position_qty
from autonomy.services import admission_controls_lock
from core.canonical import decimal_str
from strategies.choices import Stage


@dataclass(frozen=True)
class Admission:
    decision: AdmissionDecision
    lean_enabled: bool
    lean_allowed: bool | None
    strategy_id: int | None
    stage: str | None
    budgets: tuple[BudgetFacts, ...] = ()
    amounts: dict[str, Decimal] = field(default_factory=dict)  # what the order consumes, if admitted
    facts: AdmissionFacts | None = None
    llm_verdict: LlmVerdictFacts | None = None

    @property
    def block(self) -> tuple[str, str] | None:
        return self.decision.block

    def breached(self) -> list[BudgetFacts]:
        return [b for b in self.budgets if b.name in self.decision.breached_budgets]

    def record(self, *, expected: str, policy_reason: str) -> dict:
        """The checks an admitted order passed, as plain JSON: stored with its trade decision
        (``decision_json["admission"]``) by the insert that admits it, so the execution page can show
        them without a write of its own on the order path."""
        f = self.facts
        if f is None:
            return {}
        state, who, reason = effective_state(f)
        out: dict = {
            "trading": {"global": f.trading_state, "strategy": f.strategy_state, "effective": state,
                        "from": who, "reason": reason},
            "symbol": {"mode": f.symbol_mode, "reason": f.symbol_reason,
                       "caps": {k: _str(v) for k, v in (f.symbol_caps or {}).items() if v is not None}},
            "stage": f.stage,
            "lean": {"enabled": self.lean_enabled, "allowed": self.lean_allowed, "expected": expected,
                     "why": policy_reason},
            "budgets": [{"name": b.name, "limit": _str(b.limit), "used": _str(b.used), "amount": _str(b.amount)}
                        for b in self.budgets],
            "notional": _str(f.notional),
        }
        if state == TradingStateChoice.REDUCING:
            out["reducing"] = {"position_qty": _str(f.position_qty), "open_qty": _str(f.open_reducing_qty)}
        if f.symbol_mode == SymbolMode.CANARY:
            out["symbol"]["notional_today"] = _str(f.symbol_notional_today)
        if f.canary_caps:
            out["canary"] = {**{k: _str(v) for k, v in f.canary_caps.items()},
                             "notional_today": _str(f.canary_notional_today)}
        v = self.llm_verdict
        out["llm"] = None if v is None else {"review_id": v.review_id, "applied_verdict": v.applied_verdict}
        return out


def _str(value) -> str | None:
    if value is None:
        return None
    return decimal_str(value) if isinstance(value, Decimal) else str(value)


def _facts(*, flags, budgets, strategy: str, symbol: str, side: str, qty: Decimal,
           notional: Decimal | None) -> AdmissionFacts:
    return AdmissionFacts(
        trading_state=flags.trading.trading_state, trading_reason=flags.trading.trading_reason, symbol=symbol,
        symbol_mode=flags.symbol_mode, symbol_reason=flags.symbol_reason, strategy=strategy,
        strategy_known=flags.strategy_id is not None, stage=flags.stage, notional=notional,
        strategy_state=flags.strategy_state, strategy_reason=flags.strategy_reason, side=side, qty=qty,
        symbol_caps=flags.symbol_caps, budgets=budgets)


def _amounts(notional: Decimal | None) -> dict[str, Decimal]:
    return {BudgetName.ORDER_COUNT: Decimal(1), BudgetName.GROSS_NOTIONAL: notional or Decimal(0)}


def _decide(facts: AdmissionFacts, *, llm_verdict: LlmVerdictFacts | None, order_type: str,
            limit_price: Decimal | None) -> AdmissionDecision:
    """The controls' decision and, when they admit the order, its LLM review's (423 ``llm_veto``, 422
    ``llm_adjustment_mismatch``)."""
    decision = admission_decide(facts)
    if decision.block is None:
        refused = llm_block(llm_verdict, OrderShape(facts.qty, order_type, limit_price))
        if refused is not None:
            return AdmissionDecision(refused.code, refused.message, http_status=refused.http_status)
    return decision


def order_admission(*, strategy: str, symbol: str, side: str, qty: Decimal, notional: Decimal | None = None,
                    order_type: str = "market", limit_price: Decimal | None = None,
                    llm_verdict: LlmVerdictFacts | None = None) -> Admission:
    """The controls' verdict on one order. Call inside the admission transaction (see the module).
    ``llm_verdict``: the order's LLM review, as read with its look-up (before any lock)."""
    amounts = _amounts(notional)
    locked, flags = admission_controls_lock(symbol=symbol, strategy=strategy)
    budgets = tuple(replace(b, amount=amounts.get(b.name, Decimal(0))) for b in locked)
    facts = _facts(flags=flags, budgets=budgets, strategy=strategy, symbol=symbol, side=side, qty=qty,
                   notional=notional)
    facts = _with_details(facts, strategy_id=flags.strategy_id)
    decision = _decide(facts, llm_verdict=llm_verdict, order_type=order_type, limit_price=limit_price)
    return Admission(decision=decision, lean_enabled=flags.trading.lean_enabled,
                     lean_allowed=flags.lean_allowed, strategy_id=flags.strategy_id, stage=flags.stage,
                     budgets=budgets, amounts=amounts, facts=facts, llm_verdict=llm_verdict)


def order_admission_unlocked(*, snapshot: AdmissionSnapshot | None, strategy: str, symbol: str, side: str,
                             qty: Decimal, notional: Decimal | None, order_type: str = "market",
                             limit_price: Decimal | None = None, llm_verdict=None) -> Admission | None:
    """Admission decided on controls read without a lock (the common case, in no transaction): the same pure
    decision over the same facts. Returns the admission only for an order that is admitted while trading is
    ACTIVE, its symbol enabled and its strategy not at canary (nothing else to read); None sends the order
    through the locked :func:`order_admission` (a refusal is always confirmed there, under lock). The caller
    inserts an admitted order with :data:`autonomy.services.ADMISSION_GUARD_CTES`, which admits it only if
    none of these controls changed in between."""
    if snapshot is None:
        return None
    flags = snapshot.flags
    amounts = _amounts(notional)
    budgets = tuple(replace(b, amount=amounts.get(b.name, Decimal(0))) for b in snapshot.budgets)
    facts = _facts(flags=flags, budgets=budgets, strategy=strategy, symbol=symbol, side=side, qty=qty,
                   notional=notional)
    if (effective_state(facts)[0] != TradingStateChoice.ACTIVE or facts.symbol_mode != SymbolMode.ENABLED
            or facts.stage == Stage.CANARY or flags.strategy_id is None
            or snapshot.breached & {n for n, a in amounts.items() if a}):
        return None
    decision = _decide(facts, llm_verdict=llm_verdict, order_type=order_type, limit_price=limit_price)
    if decision.block is not None:
        return None
    return Admission(decision=decision, lean_enabled=flags.trading.lean_enabled, lean_allowed=flags.lean_allowed,
                     strategy_id=flags.strategy_id, stage=flags.stage, budgets=budgets, amounts=amounts, facts=facts,
                     llm_verdict=llm_verdict)


def _with_details(facts: AdmissionFacts, *, strategy_id: int | None) -> AdmissionFacts:
    """Read what only some orders need (position, open orders, today's notional, canary caps)."""
    from execution import selectors

    extra: dict = {}
    if strategy_id is not None and effective_state(facts)[0] == TradingStateChoice.REDUCING:
        extra["position_qty"] = position_qty(strategy_id=strategy_id, symbol=facts.symbol)
        extra["open_reducing_qty"] = selectors.open_qty(strategy_id=strategy_id, symbol=facts.symbol,
                                                        side=facts.side)
    caps = facts.symbol_caps or {}
    if facts.symbol_mode == SymbolMode.CANARY and caps.get("max_notional_per_day") is not None \
            and facts.notional is not None:
        extra["symbol_notional_today"] = selectors.symbol_notional_today(symbol=facts.symbol)
    if facts.stage == Stage.CANARY and strategy_id is not None:
        from promotions.selectors import canary_caps

        extra["canary_caps"] = canary_caps()
        extra["canary_notional_today"] = selectors.canary_notional_today(strategy_id=strategy_id)
    return replace(facts, **extra) if extra else facts
