"""Writes of the autonomy controls.

Every change of control state goes through a service here that writes, in the same transaction, the
append-only :class:`~autonomy.models.ControlEvent` (actor, reason, evidence, before and after) and the
generic audit row. The global trading-state row is the control mutex: every control change locks it
``FOR UPDATE`` first, and order admission reads it ``FOR SHARE`` (see :mod:`execution.services`), so a
change committed before an order's admission applies to that order.

Lock order (no cycles): an admission locks today's budget rows (by name), then the global row
``FOR SHARE``; a budget use locks one budget row, then (on a breach) the global row; a fill locks its
position row, then budget rows. Only the admission that holds every budget row can hold the global row
``FOR SHARE``, so a breach found in the admission transaction can move the global state in it.
"""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from access.choices import Via
from access.roles import Role
from access.selectors import StrategyPerm, strategies_for
from access.services import audit_record
from autonomy import rules
from autonomy.choices import (
    BREACH_STATES,
    STATE_RANK,
    BudgetName,
    ControlKind,
    StateCause,
    SymbolMode,
    TradingStateChoice,
)
from autonomy.conditions import BudgetFacts, budget_in_breach
from autonomy.models import (
    BudgetPolicy,
    BudgetUsage,
    ConditionEvaluation,
    ControlEvent,
    Position,
    StrategyTradingState,
    SymbolControl,
    TradingState,
)
from autonomy.positions import position_after_fill
from autonomy.selectors import BudgetLimit, budget_default, budget_today, lean_default
from core.canonical import decimal_str
from core.errors import InvalidInput, PermissionRefused
from strategies.models import Strategy

REASON_MAX = 2000
CAP_FIELDS = ("max_qty_per_order", "max_notional_per_order", "max_notional_per_day")


# === core: control events =========================================================================

def control_event_record(*, kind: str, scope: str, actor: str, via: str, reason: str, before: dict | None,
                         after: dict | None, evidence: dict | None = None) -> ControlEvent:
    """Append one control event. Call it inside the transaction that makes the change."""
    return ControlEvent.objects.create(kind=kind, scope=scope, actor=actor[:150] or "anonymous", via=Via(via),
                                       reason=reason, before=before or {}, after=after or {},
                                       evidence=evidence or {})


def condition_evaluation_record(*, condition: str, scope: str, inputs: dict, outcome: dict, breached: bool,
                                action: str = "", actor: str = "system") -> ConditionEvaluation:
    """Store one evaluation of a kill condition with its inputs (append-only)."""
    return ConditionEvaluation.objects.create(condition=condition, scope=scope, inputs=inputs, outcome=outcome,
                                              breached=breached, action=action, actor=actor[:150])


def _reason(reason: str | None, *, required: bool = True) -> str:
    text = (reason or "").strip()
    if required and not text:
        raise InvalidInput("A reason is required for every control change.",
                           details={"fields": {"reason": ["This field is required."]}})
    if len(text) > REASON_MAX:
        raise InvalidInput(f"reason is at most {REASON_MAX} characters.",
                           details={"fields": {"reason": [f"At most {REASON_MAX} characters."]}})
    return text


def _refuse(why: str | None, *, code: str = "agent_forbidden", details: dict | None = None) -> None:
    if why:
        raise PermissionRefused(why, code=code, details=details or {})


# === core: the global row (trading state + LEAN lane; the control mutex) ==========================

def global_row_ensure() -> None:
    """Create the global row when missing (its LEAN switch starts from the setting). Idempotent."""
    enabled, reason = lean_default()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO autonomy_trading_state (id, state, reason, cause, lean_enabled, lean_disabled_reason,"
            " updated_by, updated_at) VALUES (1, %s, '', %s, %s, %s, 'system:defaults', now())"
            " ON CONFLICT (id) DO NOTHING",
            [TradingStateChoice.ACTIVE, StateCause.MANUAL, enabled, reason])


def _global_locked() -> TradingState:
    global_row_ensure()
    return TradingState.objects.select_for_update().get(id=1)


def _state_json(row) -> dict:
    return {"state": row.state, "reason": row.reason, "cause": row.cause}


# === core: trading state (global and per strategy) ================================================

def _strategy_or_400(strategy: str | Strategy) -> Strategy:
    if isinstance(strategy, Strategy):
        return strategy
    found = Strategy.objects.filter(name=strategy).first()
    if found is None:
        raise InvalidInput(f"Unknown strategy {strategy!r}: a strategy is known once a research run names it.",
                           code="unknown_strategy", details={"fields": {"strategy": ["unknown strategy"]}})
    return found


def ensure_may_operate(*, user, strategy: Strategy, roles) -> None:
    """An operator acts on a strategy's controls only with ``operate_strategy`` on it (403
    ``strategy_out_of_scope``); agents and superusers act on any."""
    if user is None or getattr(user, "is_superuser", False) or Role.AGENT in set(roles or ()):
        return
    if not strategies_for(user, StrategyPerm.OPERATE).filter(pk=strategy.pk).exists():
        raise PermissionRefused(f"You may not change the controls of strategy {strategy.name!r}: operators act only "
                                "on the strategies they are granted (operate_strategy).",
                                code="strategy_out_of_scope", details={"strategy": strategy.name})


def trading_state_set(*, state: str, reason: str, actor: str, roles=frozenset(), via: str = Via.API,
                      strategy: str | Strategy | None = None, evidence: dict | None = None,
                      cause: str = StateCause.MANUAL, user=None) -> TradingState | StrategyTradingState:
    """Set the global trading state (``strategy`` None) or one strategy's. Agents only toward REDUCING or
    HALTED (403 ``agent_forbidden``); ``system:*`` actors toward stricter states, and back only from a
    freshness cause; an operator (``user``) needs ``operate_strategy`` on the strategy. Returns the row."""
    if state not in TradingStateChoice.values:
        raise InvalidInput(f"state must be one of {', '.join(TradingStateChoice.values)}.",
                           details={"fields": {"state": ["Unknown trading state."]}})
    if cause not in StateCause.values:
        raise InvalidInput(f"Unknown cause {cause!r}.", details={"fields": {"cause": ["Unknown cause."]}})
    reason = _reason(reason)
    target = _strategy_or_400(strategy) if strategy is not None else None
    if target is not None:
        ensure_may_operate(user=user, strategy=target, roles=roles)
    kind = rules.actor_kind(actor, roles)
    with transaction.atomic():
        row: TradingState | StrategyTradingState = _global_locked()
        scope, event_kind = "global", ControlKind.TRADING_STATE
        if target is not None:
            row, _ = StrategyTradingState.objects.select_for_update().get_or_create(strategy=target)
            scope, event_kind = f"strategy:{target.name}", ControlKind.STRATEGY_STATE
        _refuse(rules.state_change_refusal(kind=kind, current=row.state, current_cause=row.cause, new=state),
                details={"scope": scope, "from": row.state, "to": state})
        before = _state_json(row)
        row.state, row.reason, row.cause, row.updated_by = state, reason, cause, actor[:150]
        row.save()
        after = _state_json(row)
        control_event_record(kind=event_kind, scope=scope, actor=actor, via=via, reason=reason, before=before,
                             after=after, evidence=evidence)
        audit_record(actor=actor, via=via, action="trading_state_set", object_ref=scope, actor_roles=roles,
                     details={"before": before, "after": after})
    return row


# === core: LEAN lane ==============================================================================

def lean_lane_set(*, enabled: bool, reason: str, actor: str, roles=frozenset(), via: str = Via.API,
                  evidence: dict | None = None) -> TradingState:
    """The global LEAN switch (the live control; the setting only gives its first value). Agents may
    disable it, never enable it (403)."""
    reason = _reason(reason)
    _refuse(rules.lean_change_refusal(kind=rules.actor_kind(actor, roles), enabled=enabled))
    with transaction.atomic():
        row = _global_locked()
        before = {"enabled": row.lean_enabled, "disabled_reason": row.lean_disabled_reason}
        row.lean_enabled = enabled
        row.lean_disabled_reason = "" if enabled else reason
        row.updated_by = actor[:150]
        row.save()
        after = {"enabled": row.lean_enabled, "disabled_reason": row.lean_disabled_reason}
        control_event_record(kind=ControlKind.LEAN_LANE, scope="global", actor=actor, via=via, reason=reason,
                             before=before, after=after, evidence=evidence)
        audit_record(actor=actor, via=via, action="lean_lane_set", object_ref="lean_lane", actor_roles=roles,
                     details={"before": before, "after": after})
    return row


# === core: symbols ================================================================================

def _symbol_json(row: SymbolControl | None) -> dict:
    if row is None:
        return {"mode": SymbolMode.ENABLED, "health_reason": "", "lean_allowed": None,
                **{k: None for k in CAP_FIELDS}}
    return {"mode": row.mode, "health_reason": row.health_reason, "lean_allowed": row.lean_allowed,
            **{k: decimal_str(getattr(row, k)) for k in CAP_FIELDS}}


def _caps(caps: dict[str, Any] | None) -> dict[str, Decimal | None]:
    out: dict[str, Decimal | None] = {}
    for name, value in (caps or {}).items():
        if name not in CAP_FIELDS:
            raise InvalidInput(f"Unknown cap {name!r}; known: {', '.join(CAP_FIELDS)}.",
                               details={"fields": {f"caps.{name}": ["Unknown cap."]}})
        if value is not None:
            value = Decimal(str(value))
            if not value.is_finite() or value <= 0:
                raise InvalidInput(f"{name} must be a positive decimal.",
                                   details={"fields": {name: ["Must be a positive decimal."]}})
        out[name] = value
    return out


def symbol_mode_set(*, symbol: str, mode: str, reason: str, actor: str, roles=frozenset(), via: str = Via.API,
                    caps: dict | None = None, lean_allowed: bool | None = None, evidence: dict | None = None,
                    health_reason: str | None = None) -> SymbolControl:
    """Set a symbol's mode (``enabled | canary | disabled``), its health reason (the reason, unless given),
    and optionally its canary caps (keys of ``CAP_FIELDS``; None removes a cap; absent keys stay) and LEAN
    allowlist entry (None leaves it). Agents may only make a symbol stricter (403)."""
    if mode not in SymbolMode.values:
        raise InvalidInput(f"mode must be one of {', '.join(SymbolMode.values)}.",
                           details={"fields": {"mode": ["Unknown symbol mode."]}})
    reason = _reason(reason)
    health = _reason(health_reason, required=False) if health_reason is not None else reason
    new_caps = _caps(caps)
    symbol = symbol.strip().upper()
    with transaction.atomic():
        _global_locked()
        row = SymbolControl.objects.select_for_update().filter(symbol=symbol).first()
        before = _symbol_json(row)
        _refuse(rules.symbol_change_refusal(
            kind=rules.actor_kind(actor, roles), current_mode=before["mode"], new_mode=mode,
            current_caps={k: before[k] for k in CAP_FIELDS}, new_caps=new_caps, lean_allowed=lean_allowed))
        if row is None:
            row = SymbolControl(symbol=symbol)
        row.mode, row.reason, row.health_reason, row.updated_by = mode, reason, health, actor[:150]
        for name, value in new_caps.items():
            setattr(row, name, value)
        if lean_allowed is not None:
            row.lean_allowed = lean_allowed
        row.save()
        after = _symbol_json(row)
        control_event_record(kind=ControlKind.SYMBOL_MODE, scope=f"symbol:{symbol}", actor=actor, via=via,
                             reason=reason, before=before, after=after, evidence=evidence)
        audit_record(actor=actor, via=via, action="symbol_mode_set", object_ref=f"symbol:{symbol}",
                     actor_roles=roles, details={"before": before, "after": after})
    return row


# === core: budgets ================================================================================

def _budget_name(name: str) -> str:
    if name not in BudgetName.values:
        raise InvalidInput(f"Unknown budget {name!r}; known: {', '.join(BudgetName.values)}.",
                           code="unknown_budget", details={"fields": {"name": ["Unknown budget."]}})
    return name


def budget_policy_set(*, name: str, limit: Decimal, reason: str, actor: str, roles=frozenset(),
                      via: str = Via.API, on_breach: str | None = None, evidence: dict | None = None) -> BudgetPolicy:
    """Store a budget's limit (and what its breach does). Agents may never raise a budget or soften its
    breach state (403 ``agent_forbidden``); lowering is allowed to everyone who may call this."""
    _budget_name(name)
    reason = _reason(reason)
    limit = Decimal(str(limit))
    if not limit.is_finite() or limit < 0:
        raise InvalidInput("limit must be a decimal of at least 0.", details={"fields": {"limit": ["Must be >= 0."]}})
    with transaction.atomic():
        _global_locked()
        row = BudgetPolicy.objects.select_for_update().filter(name=name).first()
        current = BudgetLimit(name, row.limit, row.on_breach) if row else budget_default(name)
        new_on_breach = on_breach or current.on_breach
        if new_on_breach not in BREACH_STATES:
            raise InvalidInput(f"on_breach must be one of {', '.join(BREACH_STATES)}.",
                               details={"fields": {"on_breach": ["REDUCING or HALTED."]}})
        _refuse(rules.budget_change_refusal(kind=rules.actor_kind(actor, roles), current_limit=current.limit,
                                            new_limit=limit, current_on_breach=current.on_breach,
                                            new_on_breach=new_on_breach))
        before = {"limit": decimal_str(current.limit), "on_breach": current.on_breach, "stored": row is not None}
        if row is None:
            row = BudgetPolicy(name=name)
        row.limit, row.on_breach, row.updated_by = limit, new_on_breach, actor[:150]
        row.save()
        after = {"limit": decimal_str(row.limit), "on_breach": row.on_breach, "stored": True}
        control_event_record(kind=ControlKind.BUDGET, scope=f"budget:{name}", actor=actor, via=via, reason=reason,
                             before=before, after=after, evidence=evidence)
        audit_record(actor=actor, via=via, action="budget_policy_set", object_ref=f"budget:{name}",
                     actor_roles=roles, details={"before": before, "after": after})
    return row


_ENSURE_TODAY = """
INSERT INTO autonomy_budget_usage (name, day, used, breached_at, updated_at)
SELECT n, %s, 0, NULL, now() FROM unnest(%s::varchar[]) AS n
ON CONFLICT (name, day) DO NOTHING
"""
_LOCK_TODAY = """
SELECT u.name, u.used, u.breached_at, p."limit", p.on_breach
FROM autonomy_budget_usage u LEFT JOIN autonomy_budget_policies p ON p.name = u.name
WHERE u.day = %s ORDER BY u.name FOR UPDATE OF u
"""


def budgets_lock_today() -> list[BudgetFacts]:
    """Lock today's budget rows ``FOR UPDATE`` (creating missing ones), by name, and return them as facts
    (amounts 0). Call inside the admission transaction, before reading the control flags."""
    day = budget_today()
    names = sorted(BudgetName.values)
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_TODAY, [day])
        rows = cursor.fetchall()
        if len(rows) < len(names):
            cursor.execute(_ENSURE_TODAY, [day, names])
            cursor.execute(_LOCK_TODAY, [day])
            rows = cursor.fetchall()
    facts = []
    for name, used, _breached_at, limit, on_breach in rows:
        default = budget_default(name) if limit is None else None
        facts.append(BudgetFacts(name=name, limit=limit if default is None else default.limit, used=used,
                                 on_breach=on_breach if default is None else default.on_breach))
    return facts


#: What an admitted order consumes, as a statement execution runs as part of its insert (one round trip on
#: the order path); parameters from :func:`budgets_consume_params`. Today's rows are already locked.
BUDGETS_CONSUME_SQL = """
UPDATE autonomy_budget_usage u SET used = u.used + v.amount, updated_at = now()
FROM (SELECT unnest(%(budget_names)s::varchar[]) AS name, unnest(%(budget_amounts)s::numeric[]) AS amount) v
WHERE u.day = %(budget_day)s AND u.name = v.name AND v.amount <> 0
"""


def budgets_consume_params(amounts: dict[str, Decimal]) -> dict:
    names = sorted(n for n, a in amounts.items() if a)
    return {"budget_names": names, "budget_amounts": [amounts[n] for n in names], "budget_day": budget_today()}


def budgets_consume(*, amounts: dict[str, Decimal]) -> None:
    """Add an admitted order's use to today's rows (already locked by :func:`budgets_lock_today`)."""
    params = budgets_consume_params(amounts)
    if params["budget_names"]:
        with connection.cursor() as cursor:
            cursor.execute(BUDGETS_CONSUME_SQL, params)


def budget_breach_record(*, facts: BudgetFacts, actor: str, via: str = Via.WORKER, evidence: dict | None = None,
                         refused: dict | None = None) -> None:
    """A budget passed (or would pass) its limit: store the evaluation with its inputs, mark today's row,
    and move global trading to the policy's state (never lifted automatically). Call inside the
    transaction that found the breach, holding today's row of that budget."""
    now = timezone.now()
    first = BudgetUsage.objects.filter(name=facts.name, day=budget_today(), breached_at__isnull=True).update(
        breached_at=now, updated_at=now)
    inputs = {**facts.as_json(), "day": budget_today().isoformat(), **({"refused": refused} if refused else {})}
    state = TradingState.objects.filter(id=1).values_list("state", flat=True).first() or TradingStateChoice.ACTIVE
    moves = STATE_RANK[facts.on_breach] > STATE_RANK[state]
    condition_evaluation_record(condition="budget", scope=f"budget:{facts.name}", inputs=inputs,
                                outcome={"breached": True, "first_today": bool(first), "state_before": state},
                                breached=True, action=facts.on_breach if moves else "", actor=actor)
    if moves:
        trading_state_set(state=facts.on_breach, cause=StateCause.BUDGET, actor="system:budget", via=via,
                          reason=f"budget {facts.name} breached: used {decimal_str(facts.used + facts.amount)} of "
                                 f"{decimal_str(facts.limit)} today",
                          evidence={"budget": inputs, "by": actor, **(evidence or {})})


_USE = """
WITH u AS (
  INSERT INTO autonomy_budget_usage AS b (name, day, used, breached_at, updated_at) VALUES (%s, %s, %s, NULL, now())
  ON CONFLICT (name, day) DO UPDATE SET used = b.used + EXCLUDED.used, updated_at = now()
  RETURNING id, name, used, breached_at)
SELECT u.id, u.used, u.breached_at, p."limit", p.on_breach
FROM u LEFT JOIN autonomy_budget_policies p ON p.name = u.name
"""


def budget_use(*, name: str, amount: Decimal, actor: str, via: str = Via.WORKER,
               evidence: dict | None = None) -> BudgetUsage:
    """Add ``amount`` to today's use of a budget (LLM tokens, realized losses, notional filled without a
    price at admission). When usage passes the limit, the breach moves trading to the policy's state in
    the same transaction. One statement unless it breaches (it runs for fills on the order path)."""
    _budget_name(name)
    amount = Decimal(str(amount))
    if not amount.is_finite() or amount < 0:
        raise InvalidInput("amount must be a decimal of at least 0.", details={"fields": {"amount": [">= 0."]}})
    day = budget_today()
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(_USE, [name, day, amount])
            pk, used, breached_at, limit, on_breach = cursor.fetchone()
        default = budget_default(name) if limit is None else None
        facts = BudgetFacts(name=name, limit=default.limit if default else limit, used=used - amount, amount=amount,
                            on_breach=default.on_breach if default else on_breach)
        if breached_at is None and budget_in_breach(replace(facts, used=used, amount=Decimal(0))):
            budget_breach_record(facts=facts, actor=actor, via=via, evidence=evidence)
            breached_at = timezone.now()
    usage = BudgetUsage(id=pk, name=name, day=day, used=used, breached_at=breached_at)
    usage._state.adding = False
    return usage


# === core: positions ==============================================================================

_POSITION_LOCK = """
INSERT INTO autonomy_positions AS p (strategy_id, symbol, qty, avg_entry_price, realized_pnl, broker_qty, drift,
                                     reconciled_at, updated_at)
VALUES (%s, %s, 0, NULL, 0, NULL, 0, NULL, now())
ON CONFLICT (strategy_id, symbol) DO UPDATE SET updated_at = p.updated_at
RETURNING id, qty, avg_entry_price, realized_pnl
"""
_POSITION_SET = """
UPDATE autonomy_positions SET qty = %s, avg_entry_price = %s, realized_pnl = realized_pnl + %s, updated_at = now()
WHERE id = %s
"""


def position_apply_fill(*, strategy_id: int, symbol: str, side: str, qty: Decimal, price: Decimal,
                        actor: str = "system:fills") -> Position:
    """Apply one stored fill to the strategy's position in the symbol (call it in the transaction that
    stores the fill; it is on the order path, so it is two fixed statements: the row locked (created when
    missing) and returned, then updated). A fill that realizes a loss adds it to today's
    ``daily_realized_loss`` budget."""
    symbol = symbol.upper()
    qty, price = Decimal(qty), Decimal(price)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(_POSITION_LOCK, [strategy_id, symbol])
        pk, held, avg, realized = cursor.fetchone()
        change = position_after_fill(qty=held, avg_entry_price=avg, side=side, fill_qty=qty, fill_price=price)
        cursor.execute(_POSITION_SET, [change.qty, change.avg_entry_price, change.realized_pnl, pk])
        if change.realized_pnl < 0:
            budget_use(name=BudgetName.DAILY_REALIZED_LOSS, amount=-change.realized_pnl, actor=actor,
                       evidence={"fill": {"strategy_id": strategy_id, "symbol": symbol, "side": side,
                                          "qty": decimal_str(qty), "price": decimal_str(price),
                                          "realized_pnl": decimal_str(change.realized_pnl)}})
    position = Position(id=pk, strategy_id=strategy_id, symbol=symbol, qty=change.qty,
                        avg_entry_price=change.avg_entry_price, realized_pnl=realized + change.realized_pnl)
    position._state.adding = False
    return position
