"""Writes of the autonomy controls.

Every change of control state goes through a service here that writes, in the same transaction, the
append-only :class:`~autonomy.models.ControlEvent` (actor, reason, evidence, before and after) and the
generic audit row. The global trading-state row is the control mutex: every control change locks it
``FOR UPDATE`` first, and order admission reads it ``FOR SHARE`` (see :mod:`execution.services`), so a
change committed before an order's admission applies to that order.

Lock order (no cycles): an admission locks today's budget rows (by name), then the global row
``FOR SHARE``; a budget use locks one budget row, then (on a breach) the global row; a fill locks its
position row, then budget rows by name (the realized loss before the gross notional). Only the admission
that holds every budget row can hold the global row ``FOR SHARE``, so a breach found in the admission
transaction can move the global state in it (upgrading its own lock).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from access.choices import Via
from access.policy import AgentForbidden
from access.roles import Role
from access.selectors import StrategyPerm, strategies_for
from access.services import audit_record
from autonomy import llm_guardrails as guardrails
from autonomy import rules, selectors
from autonomy.choices import (
    BREACH_STATES,
    LLM_STAGE_RANK,
    STATE_RANK,
    BudgetName,
    ControlKind,
    LlmAllowlistKind,
    LlmStage,
    LlmVerdict,
    StateCause,
    SymbolMode,
    TradingStateChoice,
)
from autonomy.conditions import BudgetFacts, budget_in_breach
from autonomy.llm_schemas import LlmReviewIn
from autonomy.models import (
    BudgetPolicy,
    BudgetUsage,
    ConditionEvaluation,
    ControlEvent,
    LlmAllowlistEntry,
    LlmCircuit,
    LlmCircuitEvaluation,
    LlmDecisionReview,
    LlmGovernance,
    LlmStageDecision,
    Position,
    StrategyTradingState,
    SymbolControl,
    TradingState,
)
from autonomy.positions import PositionChange, position_after_fill
from autonomy.selectors import (
    FLAGS_COLUMNS,
    BudgetLimit,
    OrderFlags,
    budget_default,
    budget_today,
    lean_default,
    order_flags_from_row,
)
from core import locks
from core.canonical import content_sha256, decimal_str
from core.errors import Conflict, InvalidInput, NotFound, PermissionRefused, PolicyRefused, invalid_fields
from promotions import signing
from promotions.services import active_signer
from strategies.choices import Stage
from strategies.models import Strategy
from strategies.selectors import strategy_known_or_400

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
    return strategy if isinstance(strategy, Strategy) else strategy_known_or_400(name=strategy)


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
# Today's budget rows locked FOR UPDATE (by name), then the control flags read holding the global row FOR
# SHARE, in one statement. The order of the locks is data-driven: the global row is locked by the top-level
# FOR SHARE as the joined row comes out, and that row needs ``bs``, the aggregate of every locked budget row.
_ADMISSION_LOCK = f"""
WITH b AS MATERIALIZED (
  SELECT u.name, u.used, p."limit", p.on_breach
  FROM autonomy_budget_usage u LEFT JOIN autonomy_budget_policies p ON p.name = u.name
  WHERE u.day = %(day)s ORDER BY u.name FOR UPDATE OF u),
bs AS MATERIALIZED (
  SELECT coalesce(json_agg(json_build_array(name, used::text, "limit"::text, on_breach) ORDER BY name), '[]')
    AS budgets FROM b)
SELECT bs.budgets, {FLAGS_COLUMNS}
FROM bs CROSS JOIN autonomy_trading_state ts
LEFT JOIN autonomy_symbol_controls sc ON sc.symbol = %(symbol)s
LEFT JOIN strategies st ON st.name = %(strategy)s
LEFT JOIN autonomy_strategy_states ss ON ss.strategy_id = st.id
WHERE ts.id = 1
FOR SHARE OF ts
"""


def admission_controls_lock(*, symbol: str, strategy: str) -> tuple[list[BudgetFacts], OrderFlags]:
    """For order admission, inside its transaction: lock today's budget rows ``FOR UPDATE`` (created when
    missing) and read every control flag holding the global row ``FOR SHARE`` (created when missing), in
    one statement. Returns the budgets as facts (amounts 0) and the flags."""
    day = budget_today()
    params = {"day": day, "symbol": symbol.upper(), "strategy": strategy}
    with connection.cursor() as cursor:
        cursor.execute(_ADMISSION_LOCK, params)
        row = cursor.fetchone()
        if row is None or len(row[0]) < len(BudgetName.values):  # a new day, or a new database
            cursor.execute(_ENSURE_TODAY, [day, sorted(BudgetName.values)])
            global_row_ensure()
            cursor.execute(_ADMISSION_LOCK, params)
            row = cursor.fetchone()
    budgets = []
    for name, used, limit, on_breach in row[0]:
        default = budget_default(name) if limit is None else None
        budgets.append(BudgetFacts(name=name, used=Decimal(used), limit=default.limit if default else Decimal(limit),
                                   on_breach=default.on_breach if default else on_breach))
    return budgets, order_flags_from_row(row[1:])


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


#: Add to today's use of one budget (created when missing; the row stays locked until the transaction ends)
#: and return it with its stored policy. Named parameters ``use_name``, ``use_day``, ``use_amount``; usable
#: as the CTEs of a larger statement (``... , {BUDGET_USE_CTES} SELECT ... FROM used``).
BUDGET_USE_CTES = """
u AS (
  INSERT INTO autonomy_budget_usage AS b (name, day, used, breached_at, updated_at)
  VALUES (%(use_name)s, %(use_day)s, %(use_amount)s, NULL, now())
  ON CONFLICT (name, day) DO UPDATE SET used = b.used + EXCLUDED.used, updated_at = now()
  RETURNING id, name, used, breached_at),
used AS (
  SELECT u.id, u.used, u.breached_at, p."limit", p.on_breach
  FROM u LEFT JOIN autonomy_budget_policies p ON p.name = u.name)
"""
_USE = f"WITH {BUDGET_USE_CTES.strip()}\nSELECT id, used, breached_at, \"limit\", on_breach FROM used"


def budget_use_params(*, name: str, amount: Decimal) -> dict:
    _budget_name(name)
    amount = Decimal(str(amount))
    if not amount.is_finite() or amount < 0:
        raise InvalidInput("amount must be a decimal of at least 0.", details={"fields": {"amount": [">= 0."]}})
    return {"use_name": name, "use_day": budget_today(), "use_amount": amount}


def budget_used(*, params: dict, row: tuple, actor: str, via: str = Via.WORKER,
                evidence: dict | None = None) -> None:
    """After :data:`BUDGET_USE_CTES` ran (``row``: id, used, breached_at, limit, on_breach): when this use
    took the budget past its limit, record the breach in the same transaction."""
    _pk, used, breached_at, limit, on_breach = row
    name, amount = params["use_name"], params["use_amount"]
    default = budget_default(name) if limit is None else None
    facts = BudgetFacts(name=name, limit=default.limit if default else limit, used=used - amount, amount=amount,
                        on_breach=default.on_breach if default else on_breach)
    if breached_at is None and budget_in_breach(replace(facts, used=used, amount=Decimal(0))):
        budget_breach_record(facts=facts, actor=actor, via=via, evidence=evidence)


def budget_use(*, name: str, amount: Decimal, actor: str, via: str = Via.WORKER,
               evidence: dict | None = None) -> BudgetUsage:
    """Add ``amount`` to today's use of a budget (LLM tokens, realized losses, notional filled without a
    price at admission). When usage passes the limit, the breach moves trading to the policy's state in
    the same transaction. One statement unless it breaches."""
    params = budget_use_params(name=name, amount=amount)
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(_USE, params)
            row = cursor.fetchone()
        budget_used(params=params, row=row, actor=actor, via=via, evidence=evidence)
    return BudgetUsage.objects.get(pk=row[0])


# === core: positions ==============================================================================

def position_lock_sql(*, only_if: str = "") -> str:
    """Lock (creating when missing) a strategy's position in a symbol and return it: ``id, qty,
    avg_entry_price, realized_pnl``. Named parameters ``pos_strategy_id``, ``pos_symbol``; ``only_if`` an SQL
    condition (e.g. that a fill was inserted). Usable as a CTE of the statement that stores a fill
    (execution's order path), followed by :func:`position_fill_apply`."""
    return f"""
INSERT INTO autonomy_positions AS p (strategy_id, symbol, qty, avg_entry_price, realized_pnl, broker_qty, drift,
                                     reconciled_at, updated_at)
SELECT %(pos_strategy_id)s, %(pos_symbol)s, 0, NULL, 0, NULL, 0, NULL, now() {f"WHERE {only_if}" if only_if else ""}
ON CONFLICT (strategy_id, symbol) DO UPDATE SET updated_at = p.updated_at
RETURNING id, qty, avg_entry_price, realized_pnl
"""


POSITION_LOCK_SQL = position_lock_sql()
_POSITION_SET = """
UPDATE autonomy_positions SET qty = %(pos_qty)s, avg_entry_price = %(pos_avg)s,
  realized_pnl = realized_pnl + %(pos_realized)s, updated_at = now()
WHERE id = %(pos_id)s
"""
# The same update, with the fill's notional added to the gross notional budget in the same statement.
_POSITION_SET_AND_USE = (f"WITH pos AS ({_POSITION_SET.strip()}), {BUDGET_USE_CTES.strip()}\n"
                         "SELECT id, used, breached_at, \"limit\", on_breach FROM used")


def position_lock_params(*, strategy_id: int, symbol: str) -> dict:
    return {"pos_strategy_id": strategy_id, "pos_symbol": symbol.upper()}


def position_apply_fill(*, strategy_id: int, symbol: str, side: str, qty: Decimal, price: Decimal,
                        actor: str = "system:fills") -> Position:
    """Apply one stored fill to the strategy's position in the symbol (call it in the transaction that
    stores the fill). A fill that realizes a loss adds it to today's ``daily_realized_loss`` budget."""
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(POSITION_LOCK_SQL, position_lock_params(strategy_id=strategy_id, symbol=symbol))
        locked = cursor.fetchone()
        position_fill_apply(locked=locked, strategy_id=strategy_id, symbol=symbol, side=side, qty=qty, price=price,
                            actor=actor)
    return Position.objects.get(pk=locked[0])


def position_fill_apply(*, locked: tuple, strategy_id: int, symbol: str, side: str, qty: Decimal, price: Decimal,
                        actor: str = "system:fills", gross_notional: bool = False) -> PositionChange:
    """The second half of :func:`position_apply_fill`, for a position row already locked by
    :data:`POSITION_LOCK_SQL` (``locked``: its id, qty, avg_entry_price, realized_pnl), in the same transaction:
    the new position is computed (:func:`autonomy.positions.position_after_fill`) and written; with
    ``gross_notional`` the fill's notional goes to that budget in the same statement (an order admitted without
    a price); a realized loss goes to ``daily_realized_loss``. A breach moves trading at once."""
    qty, price, symbol = Decimal(qty), Decimal(price), symbol.upper()
    pk, held, avg, realized = locked
    change = position_after_fill(qty=held, avg_entry_price=avg, side=side, fill_qty=qty, fill_price=price)
    params = {"pos_qty": change.qty, "pos_avg": change.avg_entry_price, "pos_realized": change.realized_pnl,
              "pos_id": pk}
    fill = {"strategy_id": strategy_id, "symbol": symbol, "side": side, "qty": decimal_str(qty),
            "price": decimal_str(price), "realized_pnl": decimal_str(change.realized_pnl)}
    if change.realized_pnl < 0:  # budget rows are locked in name order: the loss before gross notional
        budget_use(name=BudgetName.DAILY_REALIZED_LOSS, amount=-change.realized_pnl, actor=actor,
                   evidence={"fill": fill})
    with connection.cursor() as cursor:
        if gross_notional:
            params.update(budget_use_params(name=BudgetName.GROSS_NOTIONAL, amount=qty * price))
            cursor.execute(_POSITION_SET_AND_USE, params)
            budget_used(params=params, row=cursor.fetchone(), actor=actor, evidence={"fill": fill})
        else:
            cursor.execute(_POSITION_SET, params)
    return change


# --- LLM governance ----------------------------------------------------------------------------
# Reviews, the rollout stage, the allowlists and the LLM circuit. The decisions are the pure functions
# of autonomy/llm_guardrails.py; these services load their inputs, call them and store the result with
# its inputs and an audit row in the same transaction.

LLM_STAGE_DECISION_SCHEMA = "torghut.llm-stage-decision/v1"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _reviewed_order(review: LlmReviewIn) -> dict[str, Any]:
    """The order the review is about: the stored one with its client_order_id, else the one it describes."""
    stored = selectors.llm_stored_order_get(review.client_order_id)
    if stored is not None:
        described = review.order
        if described is not None:
            theirs = {"strategy": described.strategy, "symbol": described.symbol, "side": described.side,
                      "qty": described.qty, "order_type": described.type, "limit_price": described.limit_price}
            differ = sorted(key for key, value in theirs.items() if stored[key] != value)
            if differ:
                raise Conflict(f"Order {review.client_order_id} is stored, and differs from the order described in "
                               f"the review ({', '.join(differ)}).", code="llm_review_order_mismatch",
                               details={"fields": {f"order.{key}": ["differs from the stored order"]
                                                   for key in differ}})
        return {**stored, "live": stored["stage"] == Stage.LIVE}
    if review.order is None:
        raise NotFound(f"No stored order has client_order_id {review.client_order_id!r}: describe the order in "
                       "`order` to review it before it is submitted.", code="order_not_found",
                       details={"client_order_id": review.client_order_id})
    strategy = strategy_known_or_400(name=review.order.strategy, field="order.strategy")
    o = review.order
    return {"execution_id": None, "trade_decision_id": None, "strategy_id": strategy.pk, "strategy": strategy.name,
            "stage": strategy.stage, "symbol": o.symbol, "side": o.side, "qty": o.qty, "order_type": o.type,
            "limit_price": o.limit_price, "live": strategy.stage == Stage.LIVE}


def _locked_singleton(model):
    model.objects.get_or_create(id=1)
    return model.objects.select_for_update().get(id=1)


def llm_review_record(*, review: LlmReviewIn, actor: str, via: str = Via.API,
                      now: datetime | None = None) -> tuple[LlmDecisionReview, bool]:
    """Store one review of one order with what the stage and the guardrails make of it.

    Returns ``(review, created)``: the same body again returns the stored review (created False); another
    review of an order already reviewed is a 409 ``llm_review_exists`` (reviews that report an error are
    kept beside it: they feed the circuit and the error ratio). Reviews are serialized on the circuit
    row, so each one sees the errors recorded before it.
    """
    problems = review.problems()
    if problems:
        raise invalid_fields("Invalid review", problems)
    order = _reviewed_order(review)
    received = review.model_dump(mode="json", exclude={"input"}, exclude_none=True)
    is_error = review.error is not None
    with transaction.atomic():
        circuit = _locked_singleton(LlmCircuit)
        # the clock is read holding the lock: a review committed before this one is inside its window
        now = now or timezone.now()
        if not is_error:
            stored = (LlmDecisionReview.objects.select_related("strategy")
                      .filter(client_order_id=review.client_order_id).exclude(verdict=LlmVerdict.ERROR).first())
            if stored is not None:
                if stored.response_json == received:
                    return stored, False
                raise Conflict(f"Order {review.client_order_id} already has a review ({stored.review_id}); an "
                               "order is reviewed once.", code="llm_review_exists",
                               details={"review_id": str(stored.review_id)})
        state = selectors.llm_governance_get()
        lists = selectors.llm_allowlists()
        tokens_used = review.tokens.prompt + review.tokens.completion if review.tokens else 0
        decision = guardrails.circuit_evaluate(
            error_times=selectors.llm_error_times(now=now) + ([now] if is_error else []),
            open_until=circuit.open_until, now=now)
        facts = guardrails.GuardFacts(
            stage=state.stage, model_allowed=review.model in lists[LlmAllowlistKind.MODEL],
            prompt_version_allowed=review.prompt_version in lists[LlmAllowlistKind.PROMPT_VERSION],
            circuit_open=decision.open, tokens_exhausted=selectors.llm_tokens_exhausted(adding=tokens_used),
            error_fallback=selectors.llm_error_fallback())
        advice = guardrails.Advice(
            verdict=review.verdict, confidence=review.confidence, adjusted_qty=review.adjusted_qty,
            adjusted_order_type=review.adjusted_order_type, limit_price=review.limit_price,
            rationale=review.rationale or "", error=review.error or "")
        reviewed = guardrails.ReviewedOrder(qty=order["qty"], order_type=order["order_type"],
                                            limit_price=order["limit_price"], live=order["live"])
        outcome = guardrails.review_outcome(advice, reviewed, facts)
        tokens = review.tokens or None
        try:
            with transaction.atomic():
                row = LlmDecisionReview.objects.create(
                    client_order_id=review.client_order_id, execution_id=order["execution_id"],
                    trade_decision_id=order["trade_decision_id"], strategy_id=order["strategy_id"],
                    symbol=order["symbol"], side=order["side"], order_qty=order["qty"],
                    order_type=order["order_type"], order_limit_price=order["limit_price"], live=order["live"],
                    model=review.model, prompt_version=review.prompt_version, input_json=review.input or {},
                    response_json=received, verdict=LlmVerdict.ERROR if is_error else review.verdict,
                    confidence=review.confidence, adjusted_qty=review.adjusted_qty,
                    adjusted_order_type=review.adjusted_order_type or "", limit_price=review.limit_price,
                    rationale=review.rationale or "", risk_flags=review.risk_flags or [],
                    tokens_prompt=tokens.prompt if tokens else 0, tokens_completion=tokens.completion if tokens else 0,
                    error=review.error or "", stage=state.stage, effective_mode=outcome.effective_mode,
                    guarded_verdict=outcome.guarded_verdict, applied_verdict=outcome.applied_verdict,
                    guardrail_reasons=list(outcome.reasons), applied_qty=outcome.qty,
                    applied_order_type=outcome.order_type or "", applied_limit_price=outcome.limit_price,
                    circuit_open=decision.open, created_by=actor, created_at=now)
        except IntegrityError:  # reviews are serialized above; this is the database's word on the same rule
            raise Conflict(f"Order {review.client_order_id} already has a review.", code="llm_review_exists") from None
        open_until_before = circuit.open_until
        if decision.opened:
            circuit.open_until, circuit.opened_at = decision.open_until, now
            circuit.save(update_fields=["open_until", "opened_at", "updated_at"])
        LlmCircuitEvaluation.objects.create(
            review=row, at=now, errors_in_window=decision.errors_in_window, open_until_before=open_until_before,
            open_after=decision.open, open_until_after=decision.open_until, opened=decision.opened)
        if tokens_used:
            budget_use(name=BudgetName.LLM_TOKENS, amount=Decimal(tokens_used), actor=actor, via=via,
                       evidence={"llm_review": str(row.review_id), "client_order_id": row.client_order_id})
        audit_record(actor=actor, via=via, action="llm_review", object_ref=f"llm_review:{row.review_id}",
                     details={"client_order_id": row.client_order_id, "verdict": row.verdict,
                              "applied_verdict": row.applied_verdict, "guardrail_reasons": row.guardrail_reasons,
                              "stage": row.stage, "tokens": tokens_used})
        if decision.opened:
            _llm_circuit_opened(decision=decision, open_until_before=open_until_before, review=row)
    return row, True


def _llm_circuit_opened(*, decision: guardrails.CircuitDecision, open_until_before: datetime | None,
                        review: LlmDecisionReview) -> None:
    actor = "system:llm-circuit"
    window = int(guardrails.POLICY.circuit_window.total_seconds())
    reason = f"{decision.errors_in_window} LLM errors within {window} s"
    before, after = {"open_until": _iso(open_until_before)}, {"open_until": _iso(decision.open_until)}
    evidence = {"llm_review": str(review.review_id), "errors_in_window": decision.errors_in_window}
    control_event_record(kind=ControlKind.LLM_CIRCUIT, scope="llm", actor=actor, via=Via.WORKER, reason=reason,
                         before=before, after=after, evidence=evidence)
    audit_record(actor=actor, via=Via.WORKER, action="llm_circuit_open", object_ref="llm_circuit",
                 details={"before": before, "after": after, "reason": reason, **evidence})


def _ensure_llm_operator(roles, what: str) -> None:
    """LLM governance changes are operators' (never an agent's, whatever else it holds)."""
    if Role.AGENT in roles:
        raise AgentForbidden(f"Agents may never {what}.", details={"action": "change_policy"})
    if Role.OPERATOR not in roles:
        raise PermissionRefused(f"Only operators may {what}.", code="operator_required")


def _stage_evidence_json(evidence: guardrails.StageEvidence, *, now: datetime, lists: dict) -> dict[str, Any]:
    ratio = guardrails.error_ratio(evidence.reviews, evidence.errors)
    return {"evaluation_report": evidence.evaluation_report, "effective_challenge_id": evidence.effective_challenge_id,
            "shadow_since": _iso(evidence.shadow_since), "window_start": _iso(evidence.window_start),
            "window_end": _iso(now), "reviews": evidence.reviews, "errors": evidence.errors,
            "error_ratio": None if ratio is None else str(ratio), "min_reviews": evidence.min_reviews,
            "allowlists": lists, "readiness": evidence.readiness_block}


def llm_stage_set(*, stage: str, reason: str, actor: str, roles=frozenset(), via: str = Via.API,
                  evaluation_report: str = "", effective_challenge_id: str = "",
                  now: datetime | None = None) -> LlmStageDecision:
    """Change the LLM rollout stage: operators only. Any step down; up one stage at a time, and above
    stage1 only on evidence (an evaluation report, an effective-challenge id, a completed shadow window
    with an error ratio of at most 0.10, allowlisted models and prompt versions) and, later, a green
    readiness scorecard. The change is a signed, hash-chained decision with the evidence it rested on."""
    _ensure_llm_operator(roles, "change the LLM stage")
    if stage not in LlmStage.values:
        raise invalid_fields("Invalid stage change", {"stage": [f"one of {', '.join(LlmStage.values)}"]})
    if not reason or not reason.strip():
        raise invalid_fields("Invalid stage change", {"reason": ["say why the stage changes"]})
    with transaction.atomic():
        row = _locked_singleton(LlmGovernance)
        now = now or timezone.now()
        before = row.stage
        advancing_above_shadow = LLM_STAGE_RANK[stage] > max(LLM_STAGE_RANK[before], LLM_STAGE_RANK[LlmStage.STAGE1])
        evidence = selectors.llm_stage_evidence(
            evaluation_report=evaluation_report.strip(), effective_challenge_id=effective_challenge_id.strip(),
            shadow_since=row.shadow_since, now=now,
            readiness_block=selectors.llm_stage_readiness_block() if advancing_above_shadow else None)
        lists = selectors.llm_allowlists()
        evidence_json = _stage_evidence_json(evidence, now=now, lists=lists)
        problems = guardrails.stage_change_problems(before=before, after=stage, evidence=evidence)
        if problems is not None:
            error = Conflict if problems.code == "llm_stage_unchanged" else PolicyRefused
            raise error(f"The LLM stage cannot move from {before} to {stage}: {'; '.join(problems.reasons)}.",
                        code=problems.code, details={"reasons": problems.reasons, "evidence": evidence_json})
        row.stage, row.reason, row.updated_by = stage, reason.strip(), actor
        row.shadow_since = None if stage == LlmStage.STAGE0 else (row.shadow_since or now)
        row.save()
        decision = _llm_stage_decide(before=before, after=stage, actor=actor, roles=roles, via=via,
                                     reason=reason.strip(), evidence=evidence_json, now=now)
        control_event_record(kind=ControlKind.LLM_STAGE, scope="llm", actor=actor, via=via, reason=reason.strip(),
                             before={"stage": before}, after={"stage": stage},
                             evidence={**evidence_json, "decision_id": decision.pk,
                                       "decision_sha256": decision.decision_sha256})
        audit_record(actor=actor, actor_roles=sorted(roles), via=via, action="llm_stage_set",
                     object_ref=f"llm_stage_decision:{decision.pk}",
                     details={"before": before, "after": stage, "reason": reason.strip(), "evidence": evidence_json})
    return decision


def _llm_stage_decide(*, before: str, after: str, actor: str, roles, via: str, reason: str, evidence: dict,
                      now: datetime) -> LlmStageDecision:
    """Append the signed decision, chained to the previous one (as promotion decisions are)."""
    last = LlmStageDecision.objects.order_by("-id").first()
    document = {"schema_version": LLM_STAGE_DECISION_SCHEMA, "stage_before": before, "stage_after": after,
                "actor": actor, "actor_roles": sorted(roles), "via": via, "reason": reason, "evidence": evidence,
                "previous_sha256": last.decision_sha256 if last else "", "at": _iso(now)}
    signer = active_signer()
    return LlmStageDecision.objects.create(
        stage_before=before, stage_after=after, actor=actor, actor_roles=sorted(roles), via=via, reason=reason,
        evidence=evidence, document=document, decision_sha256=content_sha256(document),
        previous_sha256=document["previous_sha256"], signature=signing.sign(signer, document), key_id=signer.key_id,
        at=now)


def llm_allowlist_set(*, kind: str, value: str, allowed: bool, reason: str, actor: str, roles=frozenset(),
                      via: str = Via.API) -> dict[str, list[str]]:
    """Add a model or prompt version to its allowlist, or remove it (operators only). Returns the allowlists."""
    _ensure_llm_operator(roles, "change the LLM allowlists")
    fields = {}
    if kind not in LlmAllowlistKind.values:
        fields["kind"] = [f"one of {', '.join(LlmAllowlistKind.values)}"]
    if not value or not value.strip() or len(value) > 128:
        fields["value"] = ["1 to 128 characters"]
    if not reason or not reason.strip():
        fields["reason"] = ["say why the allowlist changes"]
    if fields:
        raise invalid_fields("Invalid allowlist change", fields)
    with transaction.atomic():
        locks.xact_lock("llm_allowlist")
        before = selectors.llm_allowlists()
        if allowed:
            LlmAllowlistEntry.objects.get_or_create(kind=kind, value=value,
                                                    defaults={"reason": reason.strip(), "added_by": actor})
        else:
            LlmAllowlistEntry.objects.filter(kind=kind, value=value).delete()
        after = selectors.llm_allowlists()
        if before != after:
            control_event_record(kind=ControlKind.LLM_ALLOWLIST, scope=f"llm:{kind}", actor=actor, via=via,
                                 reason=reason.strip(), before={kind: before[kind]}, after={kind: after[kind]})
            audit_record(actor=actor, actor_roles=sorted(roles), via=via, action="llm_allowlist_set",
                         object_ref=f"llm_allowlist:{kind}",
                         details={"before": before[kind], "after": after[kind], "reason": reason.strip(),
                                  "value": value, "allowed": allowed})
    return after
