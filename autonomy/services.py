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

import json
import logging
import os
import socket
import time
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from access.choices import Outcome, Via
from access.models import AuditEvent
from access.policy import AgentForbidden
from access.roles import Role
from access.selectors import StrategyPerm, strategies_for
from access.services import audit_record
from autonomy import alerting, conditions, playbook, rules, selectors
from autonomy import llm_guardrails as guardrails
from autonomy.choices import (
    BREACH_STATES,
    LLM_STAGE_RANK,
    SEVERITY_RANK,
    STATE_RANK,
    AlertEvent,
    AlertSeverity,
    AlertStatus,
    BudgetName,
    ConditionKind,
    ControlKind,
    DeliveryChannel,
    DeliveryStatus,
    HeartbeatStatus,
    IncidentStatus,
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
    Alert,
    AlertDelivery,
    AlertDeliveryAttempt,
    AuditChainCheck,
    BudgetPolicy,
    BudgetUsage,
    ConditionEvaluation,
    ControlEvent,
    FreshnessState,
    Heartbeat,
    Incident,
    LeanRecovery,
    LlmAllowlistEntry,
    LlmCircuit,
    LlmCircuitEvaluation,
    LlmDecisionReview,
    LlmGovernance,
    LlmStageDecision,
    PlaybookActivation,
    PlaybookVersion,
    Position,
    SignalSource,
    StrategyTradingState,
    SymbolControl,
    TradingState,
)
from autonomy.positions import PositionChange, position_after_fill, signed_qty
from autonomy.selectors import (
    FLAGS_COLUMNS,
    LEAN_ALERT_KEY,
    AdmissionSnapshot,
    BudgetLimit,
    CriticalFlag,
    OrderFlags,
    budget_alert_key,
    budget_default,
    budget_facts,
    budget_today,
    budgets_json,
    heartbeat_quality,
    lean_default,
    order_flags_from_row,
    playbook_active,
    signal_freshness,
    state_alert_key,
    symbol_modes,
)
from core import locks
from core.canonical import content_sha256, decimal_str
from core.chain import Checkpoint, verify_table
from core.errors import Conflict, InvalidInput, NotFound, PermissionRefused, PolicyRefused, invalid_fields
from core.versions import version_store
from promotions import signing
from strategies.choices import Stage
from strategies.models import Strategy
from strategies.selectors import strategy_known_or_400

logger = logging.getLogger(__name__)
REASON_MAX = 2000
CAP_FIELDS = ("max_qty_per_order", "max_notional_per_order", "max_notional_per_day")


# === core: control events =========================================================================

def control_event_record(*, kind: str, scope: str, actor: str, via: str, reason: str, before: dict | None,
                         after: dict | None, evidence: dict | None = None) -> ControlEvent:
    """Append one control event. Call it inside the transaction that makes the change. Critical changes
    raise (or resolve) their alerts in the same transaction (:func:`control_change_alerts`)."""
    event = ControlEvent.objects.create(kind=kind, scope=scope, actor=actor[:150] or "anonymous", via=Via(via),
                                        reason=reason, before=before or {}, after=after or {},
                                        evidence=evidence or {})
    control_change_alerts(kind=kind, scope=scope, actor=event.actor, reason=reason, before=event.before,
                          after=event.after, evidence=event.evidence)
    return event


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

_GLOBAL_ROW_ENSURE = f"""
INSERT INTO autonomy_trading_state (id, state, reason, cause, lean_enabled, lean_disabled_reason, updated_by,
                                    updated_at)
VALUES (1, '{TradingStateChoice.ACTIVE}', '', '{StateCause.MANUAL}', %(lean_enabled)s, %(lean_reason)s,
        'system:defaults', now())
ON CONFLICT (id) DO NOTHING"""


def global_row_ensure() -> None:
    """Create the global row when missing (its LEAN switch starts from the setting). Idempotent."""
    enabled, reason = lean_default()
    with connection.cursor() as cursor:
        cursor.execute(_GLOBAL_ROW_ENSURE, {"lean_enabled": enabled, "lean_reason": reason})


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
        if enabled and not row.lean_enabled:
            readiness_required(what="Enabling the LEAN lane")
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


def readiness_required(*, what: str) -> None:
    """Phase D: refuse (422 ``readiness_not_met``) unless the readiness scorecard has been green over the
    configured window (``READINESS_GREEN_HOURS``); ``READINESS_PHASE_D=0`` switches the rule off."""
    if not settings.READINESS_PHASE_D:
        return
    from autonomy.selectors import readiness_block

    why = readiness_block()
    if why:
        raise PolicyRefused(f"{what} needs the readiness scorecard green over the window: {why}",
                            code="readiness_not_met", details={"readiness": "/api/v1/readiness"})


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
SELECT n, %(day)s, 0, NULL, now() FROM unnest(%(names)s::varchar[]) AS n
ON CONFLICT (name, day) DO NOTHING
"""
_ENSURE_ROWS = (f"WITH g AS ({_GLOBAL_ROW_ENSURE.strip()}),\n"
                "v AS (INSERT INTO autonomy_control_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING)\n"
                f"{_ENSURE_TODAY.strip()}")
# Today's budget rows locked FOR UPDATE (by name), then the control flags read holding the global row FOR
# SHARE, in one statement. The order of the locks is data-driven: the global row is locked by the top-level
# FOR SHARE as the joined row comes out, and that row needs ``bs``, the aggregate of every locked budget row.
_ADMISSION_LOCK = f"""
WITH b AS MATERIALIZED (
  SELECT u.name, u.used, u.breached_at, p."limit", p.on_breach
  FROM autonomy_budget_usage u LEFT JOIN autonomy_budget_policies p ON p.name = u.name
  WHERE u.day = %(day)s ORDER BY u.name FOR UPDATE OF u),
bs AS MATERIALIZED (SELECT {budgets_json("b", "b")} AS budgets FROM b)
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
    enabled, reason = lean_default()
    with connection.cursor() as cursor:
        # Today's rows, the global row and the control version exist before anything is locked: creating them
        # after the global row is held FOR SHARE would wait for a budget row while holding it, the reverse of
        # the lock order.
        cursor.execute(_ENSURE_ROWS, {"day": day, "names": sorted(BudgetName.values), "lean_enabled": enabled,
                                      "lean_reason": reason})
        cursor.execute(_ADMISSION_LOCK, params)
        row = cursor.fetchone()
    return budget_facts(row[0]), order_flags_from_row(row[1:])


#: The write guard of admission without a lock (``execution.controls.order_admission_unlocked``), as CTEs of
#: the statement that inserts the admitted order. First the budgets the order consumes are added to, each only
#: while unbreached and within the limit it was admitted under (their rows locked first, as the locked admission
#: locks them); then ``ok`` holds the control version ``FOR SHARE`` and has its row only when the version is the
#: one admission read, every budget was added to, and the strategy is still at the stage it was admitted at. The
#: statement must end in ``autonomy_admission_guard(<the order was inserted>)``: when it raises (SQLSTATE
#: :data:`ADMISSION_STALE`), nothing of the statement stays and the order goes through the locked admission.
ADMISSION_GUARD_CTES = """
gb AS (
  UPDATE autonomy_budget_usage u SET used = u.used + v.amount, updated_at = now()
  FROM (SELECT unnest(%(guard_names)s::varchar[]) AS name, unnest(%(guard_amounts)s::numeric[]) AS amount,
               unnest(%(guard_limits)s::numeric[]) AS lim) v
  WHERE u.day = %(guard_day)s AND u.name = v.name AND u.breached_at IS NULL AND u.used + v.amount <= v.lim
  RETURNING u.name),
ok AS (
  SELECT 1 FROM autonomy_control_version cv
  WHERE cv.id = 1 AND cv.version = %(guard_version)s AND (SELECT count(*) FROM gb) = %(guard_count)s
    AND EXISTS (SELECT 1 FROM strategies WHERE id = %(guard_strategy_id)s AND stage = %(guard_stage)s)
  FOR SHARE OF cv)"""
ADMISSION_STALE = "TA001"


def _array_literal(values) -> str:
    return "{" + ",".join(str(v) for v in values) + "}"


def admission_guard_params(*, snapshot: AdmissionSnapshot, amounts: dict[str, Decimal], strategy_id: int,
                           stage: str) -> dict:
    limits = {b.name: b.limit for b in snapshot.budgets}
    names = sorted(n for n, a in amounts.items() if a)
    # array literals (budget names are identifiers, amounts decimals): cheaper to bind than Python lists
    return {"guard_names": _array_literal(names), "guard_amounts": _array_literal(amounts[n] for n in names),
            "guard_limits": _array_literal(limits[n] for n in names), "guard_day": snapshot.day,
            "guard_count": len(names),
            "guard_version": snapshot.version, "guard_strategy_id": strategy_id, "guard_stage": stage}


def admission_guard_failed(exc: BaseException) -> bool:
    """True when ``exc`` is the guard of :data:`ADMISSION_GUARD_CTES` refusing a stale admission."""
    return getattr(exc.__cause__, "sqlstate", None) == ADMISSION_STALE


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
    budget_breach_alert(facts=facts, inputs=inputs, moved_to=facts.on_breach if moves else None)


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
INSERT INTO autonomy_positions AS p (strategy_id, symbol, qty, avg_entry_price, realized_pnl, updated_at)
SELECT %(pos_strategy_id)s, %(pos_symbol)s, 0, NULL, 0, now() {f"WHERE {only_if}" if only_if else ""}
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


def position_grow_ctes(*, only_if: str) -> str:
    """CTEs (``pos``, ``gn``) that apply a fill in one statement when it opens or grows the strategy's position
    (the common case: no P&L realized), as :func:`position_fill_apply` would: the quantity added and the average
    entry price weighted (``autonomy_price_half_even``, the same rounding as
    :func:`autonomy.positions.grown_average`); for an order admitted without a price, the fill's notional added
    to today's gross notional budget while that stays within its limit (the stored policy's, else the
    setting's). ``only_if``: an SQL condition (the fill was inserted). A fill against the position, or one that
    would breach the budget, changes nothing here: :data:`POSITION_GROW_GUARD` then raises (TA002) and the
    caller stores the fill in the locked transaction.
    Parameters from :func:`position_grow_params`."""
    return f"""pos AS (
  INSERT INTO autonomy_positions AS p (strategy_id, symbol, qty, avg_entry_price, realized_pnl, updated_at)
  SELECT %(pos_strategy_id)s, %(pos_symbol)s, %(grow_delta)s::numeric,
         autonomy_price_half_even(%(grow_qty)s::numeric * %(grow_price)s::numeric, %(grow_qty)s::numeric), 0, now()
  WHERE {only_if}
  ON CONFLICT (strategy_id, symbol) DO UPDATE
  SET qty = p.qty + EXCLUDED.qty,
      avg_entry_price = autonomy_price_half_even(
        abs(p.qty) * coalesce(p.avg_entry_price, 0) + %(grow_qty)s::numeric * %(grow_price)s::numeric,
        abs(p.qty) + %(grow_qty)s::numeric),
      updated_at = now()
  WHERE p.qty = 0 OR (p.qty > 0) = (EXCLUDED.qty > 0)
  RETURNING 1),
gn AS (
  UPDATE autonomy_budget_usage u SET used = u.used + %(grow_qty)s::numeric * %(grow_price)s::numeric, updated_at = now()
  WHERE %(grow_gross)s::boolean AND {only_if} AND u.day = %(grow_day)s::date AND u.name = 'gross_notional'
    AND u.breached_at IS NULL
    AND u.used + %(grow_qty)s::numeric * %(grow_price)s::numeric
        <= coalesce((SELECT bp."limit" FROM autonomy_budget_policies bp WHERE bp.name = u.name),
                    %(grow_default_limit)s::numeric)
  RETURNING 1)"""


#: The select of a statement built on :func:`position_grow_ctes`: raises TA002 unless the fill (when new) grew
#: the position and used the budget it had to.
POSITION_GROW_GUARD = ("autonomy_fill_guard(NOT ({only_if}) OR (EXISTS (SELECT 1 FROM pos)"
                       " AND (NOT %(grow_gross)s::boolean OR EXISTS (SELECT 1 FROM gn))))")
POSITION_LOCKED_PATH = "TA002"


def position_grow_params(*, strategy_id: int, symbol: str, side: str, qty: Decimal, price: Decimal,
                         gross_notional: bool) -> dict:
    return {**position_lock_params(strategy_id=strategy_id, symbol=symbol),
            "grow_delta": signed_qty(side, Decimal(qty)), "grow_qty": Decimal(qty), "grow_price": Decimal(price),
            "grow_gross": gross_notional, "grow_day": budget_today(),
            "grow_default_limit": budget_default(BudgetName.GROSS_NOTIONAL).limit}


def position_needs_lock(exc: BaseException) -> bool:
    """True when ``exc`` is :data:`POSITION_GROW_GUARD` sending a fill to the locked path."""
    return getattr(exc.__cause__, "sqlstate", None) == POSITION_LOCKED_PATH


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
    with connection.bound_cursor() as cursor:
        if gross_notional:
            params.update(budget_use_params(name=BudgetName.GROSS_NOTIONAL, amount=qty * price))
            cursor.execute(_POSITION_SET_AND_USE, params)
            budget_used(params=params, row=cursor.fetchone(), actor=actor, evidence={"fill": fill})
        else:
            cursor.execute(_POSITION_SET, params)
    return change


# --- readiness (Phase D) -----------------------------------------------------------------------

def readiness_snapshot_take(*, actor: str = "system:readiness", now=None):
    """Evaluate the readiness scorecard and store it with the facts it read (the readiness sweep)."""
    from django.utils import timezone

    from autonomy import readiness
    from autonomy.models import ReadinessSnapshot
    from autonomy.selectors import readiness_evaluate

    now = now or timezone.now()
    criteria, facts, window_start = readiness_evaluate(now=now)
    return ReadinessSnapshot.objects.create(at=now, green=readiness.green(criteria), criteria=criteria, facts=facts,
                                            window_start=window_start, created_by=actor)


READINESS_ACTOR = "system:readiness"


def readiness_sweep_run(*, now: datetime | None = None) -> dict | None:
    """The readiness sweep: replay the promotions every activation rests on (recording each outcome), then
    store a snapshot. Once per ``READINESS_SWEEP_MINUTES`` period however many clusters fire the schedule
    (None when this period's sweep is running elsewhere or already stored its snapshot)."""
    from autonomy.models import ReadinessSnapshot
    from promotions.services import replay_sweep

    def run() -> dict:
        replays = replay_sweep()
        snapshot = readiness_snapshot_take(actor=READINESS_ACTOR)  # after the replays: it reads them
        return {"replays": len(replays), "green": snapshot.green, "snapshot_id": snapshot.pk,
                "failing": [c["id"] for c in snapshot.criteria if c["status"] != "pass"]}

    return locks.once_per_period(
        "readiness:sweep", minutes=settings.READINESS_SWEEP_MINUTES, now=now, run=run,
        finished_in=lambda start, end: ReadinessSnapshot.objects.filter(created_by=READINESS_ACTOR, at__gte=start,
                                                                        at__lt=end).exists())


# --- The audit hash chains (tamper evidence) ------------------------------------------------------

AUDIT_CHAIN_ALERT_KEY = "audit_chain"
AUDIT_CHAIN_ACTOR = "system:audit-chain"


def audit_chain_verify(*, actor: str = AUDIT_CHAIN_ACTOR, via: str = Via.WORKER, batch_size: int | None = None,
                       progress=None):
    """Walk the hash chains of the audit events and the control events (``core.chain``), in batches, and
    store the result (``AuditChainCheck``): rows checked, each chain's head, the first break.

    Each chain must also still hold the head the last unbroken verification reached, unchanged (a chain
    rewritten from some row on, or cut from the end, shows). A break raises the critical alert
    ``audit_chain`` (its evidence: the table, position, id and what is wrong); an unbroken verification
    resolves it. ``progress(state)`` is called after each batch (``core.chain.ChainState``)."""
    batch_size = batch_size or settings.AUDIT_CHAIN_BATCH_SIZE
    started = timezone.now()
    last_ok = AuditChainCheck.objects.filter(ok=True).order_by("-at", "-id").first()
    chains: dict[str, dict] = {}
    first_break = None
    for model in (AuditEvent, ControlEvent):
        table = model._meta.db_table
        head = (last_ok.chains.get(table) or {}) if last_ok is not None else {}
        checkpoint = (Checkpoint(position=head["head_position"], sha256=head["head_sha256"],
                                 at=last_ok.at.isoformat().replace("+00:00", "Z"))
                      if head.get("head_position") else None)
        state = verify_table(model, checkpoint=checkpoint, batch_size=batch_size, progress=progress)
        chains[table] = {"rows": state.rows, "head_position": state.position, "head_sha256": state.sha256,
                         "ok": state.broken is None}
        if state.broken is not None and first_break is None:
            first_break = state.broken
    with transaction.atomic():
        check = AuditChainCheck.objects.create(
            at=started, finished_at=timezone.now(), ok=first_break is None,
            rows_checked=sum(c["rows"] for c in chains.values()), chains=chains,
            first_break=first_break.as_dict() if first_break is not None else None, created_by=actor)
        if first_break is not None:
            alert_raise(dedup_key=AUDIT_CHAIN_ALERT_KEY, severity=AlertSeverity.CRITICAL, actor=actor, via=via,
                        title=f"Audit chain broken: {first_break}"[:300],
                        evidence={"check": check.pk, **first_break.as_dict()})
        else:
            alert_clear(dedup_key=AUDIT_CHAIN_ALERT_KEY, actor=actor, via=via,
                        reason=f"the audit chains verify again ({check.rows_checked} rows, check #{check.pk})")
    return check
# === alerts worker: alerts, delivery, heartbeats, stale signals, failure streak, LEAN circuit =====

# --- Alerts ----------------------------------------------------------------------------------

def _alert_json(alert: Alert) -> dict[str, Any]:
    """An alert as its notifications carry it."""
    def iso(value):
        return value.isoformat() if value else None

    return {"id": alert.pk, "dedup_key": alert.dedup_key, "severity": alert.severity, "status": alert.status,
            "title": alert.title, "evidence": alert.evidence, "opened_at": iso(alert.opened_at),
            "last_seen_at": iso(alert.last_seen_at), "occurrences": alert.occurrences,
            "acknowledged_by": alert.acknowledged_by or None, "acknowledged_at": iso(alert.acknowledged_at),
            "resolved_by": alert.resolved_by or None, "resolved_at": iso(alert.resolved_at)}


def _channels() -> list[tuple[str, str]]:
    """(channel, target) of every configured notification channel."""
    out = []
    if settings.ALERT_WEBHOOK_URL:
        out.append((DeliveryChannel.WEBHOOK, settings.ALERT_WEBHOOK_URL))
    if settings.ALERT_EMAIL_TO:
        out.append((DeliveryChannel.EMAIL, ",".join(settings.ALERT_EMAIL_TO)))
    return out


def _notify(alert: Alert, event: str) -> list[AlertDelivery]:
    """Queue the notifications of one alert event (inside the caller's transaction); the delivery
    worker is woken once the transaction commits, and the schedule is the backstop."""
    if SEVERITY_RANK[alert.severity] < SEVERITY_RANK.get(settings.ALERT_NOTIFY_MIN_SEVERITY, 1):
        return []
    now = timezone.now()
    payload = {"event": event, "alert": _alert_json(alert), "sent_by": "torghut"}
    deliveries = [AlertDelivery(alert=alert, event=event, channel=channel, target=target, payload=payload,
                                next_attempt_at=now, created_at=now)
                  for channel, target in _channels()]
    if deliveries:
        AlertDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        transaction.on_commit(_wake_delivery_worker)
    return deliveries


def _wake_delivery_worker() -> None:
    try:
        from django_q.tasks import async_task

        async_task("autonomy.tasks.deliver_alerts", task_name="deliver_alerts", group="alerts")
    except Exception as exc:  # noqa: BLE001 - the schedule delivers it anyway
        logger.warning("could not enqueue the alert delivery task (the schedule will deliver): %s", exc)


def alert_raise(*, dedup_key: str, severity: str, title: str, evidence: dict | None = None,
                actor: str = "system", via: str = Via.WORKER, notify: bool = True) -> Alert:
    """Open the alert with this key, or update the unresolved one: ``last_seen_at``, ``occurrences``,
    the latest title and evidence; the severity only ever rises while it is unresolved.

    Opening (and a rise in severity) notifies the configured channels. Audited in the same transaction.
    """
    if severity not in AlertSeverity.values:
        raise InvalidInput(f"Unknown severity {severity!r}.", details={"fields": {"severity": ["unknown"]}})
    if not dedup_key or len(dedup_key) > 200:
        raise InvalidInput("dedup_key must be 1 to 200 characters.", details={"fields": {"dedup_key": ["length"]}})
    evidence = evidence or {}
    title = title[:300]
    now = timezone.now()
    with transaction.atomic():
        alert = _unresolved_locked(dedup_key)
        event = None
        if alert is None:
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(dedup_key=dedup_key, severity=severity, title=title,
                                                 evidence=evidence, raised_by=actor, opened_at=now, last_seen_at=now)
                    event = AlertEvent.OPENED
            except IntegrityError:  # another writer opened it a moment ago
                alert = _unresolved_locked(dedup_key)
        if event is None:
            escalated = SEVERITY_RANK[severity] > SEVERITY_RANK[alert.severity]
            alert.severity = severity if escalated else alert.severity
            alert.title, alert.evidence, alert.last_seen_at = title, evidence, now
            alert.occurrences += 1
            alert.save(update_fields=["severity", "title", "evidence", "last_seen_at", "occurrences"])
            event = AlertEvent.ESCALATED if escalated else "repeated"
        if notify and event != "repeated":
            _notify(alert, event)
        audit_record(actor=actor, via=via, action="alert_raise", object_ref=f"alert:{alert.pk}",
                     details={"dedup_key": dedup_key, "severity": alert.severity, "event": event,
                              "occurrences": alert.occurrences})
    return alert


def _unresolved_locked(dedup_key: str) -> Alert | None:
    return (Alert.objects.select_for_update().exclude(status=AlertStatus.RESOLVED)
            .filter(dedup_key=dedup_key).first())


def _alert_locked(alert_id: int) -> Alert:
    alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(f"No alert #{alert_id}.")
    return alert


def alert_acknowledge(*, alert_id: int, actor: str, comment: str = "", roles=(), via: str = Via.API) -> Alert:
    """open -> acknowledged: someone is on it. 409 ``alert_not_open`` otherwise."""
    with transaction.atomic():
        alert = _alert_locked(alert_id)
        if alert.status != AlertStatus.OPEN:
            raise Conflict(f"Alert #{alert.pk} is {alert.status}; only an open alert is acknowledged.",
                           code="alert_not_open", details={"status": alert.status})
        alert.status, alert.acknowledged_by, alert.acknowledged_at = AlertStatus.ACKNOWLEDGED, actor, timezone.now()
        alert.acknowledge_comment = comment
        alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "acknowledge_comment"])
        audit_record(actor=actor, actor_roles=roles, via=via, action="alert_acknowledge",
                     object_ref=f"alert:{alert.pk}",
                     details={"dedup_key": alert.dedup_key, "before": AlertStatus.OPEN, "after": alert.status,
                              "comment": comment})
    return alert


def alert_resolve(*, alert_id: int, actor: str, comment: str = "", roles=(), via: str = Via.API) -> Alert:
    """open or acknowledged -> resolved (final). 409 ``alert_already_resolved`` for a resolved one; 409
    ``alert_condition_holds`` while the critical control flag the alert stands for is still set (the LEAN lane
    off, trading HALTED, a budget breached today: :func:`autonomy.selectors.critical_flags`) — the flag must
    keep its alert, which resolves by itself when the flag is lifted. That refusal is audited (committed)."""
    with transaction.atomic():
        alert = _alert_locked(alert_id)
        if alert.status == AlertStatus.RESOLVED:
            raise Conflict(f"Alert #{alert.pk} is already resolved.", code="alert_already_resolved",
                           details={"status": alert.status})
        flag = selectors.critical_flag_for(alert.dedup_key)
        if flag is None:
            _resolve(alert, actor=actor, comment=comment, roles=roles, via=via)
            return alert
        refusal = _condition_holds(alert, flag)
        audit_record(actor=actor, actor_roles=roles, via=via, action="alert_resolve", outcome=Outcome.REFUSED,
                     object_ref=f"alert:{alert.pk}",
                     details={"dedup_key": alert.dedup_key, "status": alert.status, "comment": comment,
                              "error_code": refusal.code, "condition": flag.what})
    raise refusal


def _condition_holds(alert: Alert, flag: CriticalFlag) -> Conflict:
    """The refusal to resolve an alert whose critical control flag is still set, saying what to do instead."""
    instead = ("Acknowledge it instead (someone is on it)" if alert.status == AlertStatus.OPEN
               else "Leave it acknowledged")
    return Conflict(
        f"Alert #{alert.pk} cannot be resolved while its condition holds ({flag.what}): a critical control flag "
        f"keeps its alert until the flag is lifted, or the readiness scorecard (critical_flags_alerting) fails "
        f"and enabling the LEAN lane is refused. {instead}; it resolves by itself {flag.lifted_by}.",
        code="alert_condition_holds",
        details={"dedup_key": alert.dedup_key, "status": alert.status, "condition": flag.what,
                 "resolves": flag.lifted_by})


def alert_clear(*, dedup_key: str, actor: str = "system", reason: str = "the condition cleared",
                via: str = Via.WORKER) -> Alert | None:
    """Resolve the unresolved alert with this key, if any (the condition that raised it is gone).
    Idempotent: None when nothing is unresolved."""
    with transaction.atomic():
        alert = _unresolved_locked(dedup_key)
        if alert is None:
            return None
        _resolve(alert, actor=actor, comment=reason, roles=(), via=via)
    return alert


def _resolve(alert: Alert, *, actor: str, comment: str, roles, via: str) -> None:
    before = alert.status
    alert.status, alert.resolved_by, alert.resolved_at = AlertStatus.RESOLVED, actor, timezone.now()
    alert.resolve_comment = comment
    alert.save(update_fields=["status", "resolved_by", "resolved_at", "resolve_comment"])
    _notify(alert, AlertEvent.RESOLVED)
    audit_record(actor=actor, actor_roles=roles, via=via, action="alert_resolve", object_ref=f"alert:{alert.pk}",
                 details={"dedup_key": alert.dedup_key, "before": before, "after": alert.status, "comment": comment})


# --- Delivery --------------------------------------------------------------------------------

def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _delivery_claim(now: datetime) -> tuple[AlertDelivery, AlertDeliveryAttempt] | None:
    """Claim the next due delivery (``FOR UPDATE SKIP LOCKED``: concurrent workers get different
    rows), record the attempt as started, and lease it, in one short committed transaction."""
    lease = timedelta(seconds=settings.ALERT_DELIVERY_LEASE_SECONDS)
    with transaction.atomic():
        delivery = (AlertDelivery.objects.select_for_update(skip_locked=True)
                    .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
                    .exclude(lease_until__gt=now).order_by("next_attempt_at", "id").first())
        if delivery is None:
            return None
        delivery.attempts += 1  # tries since it was queued (an operator's requeue starts over)
        delivery.lease_until = now + lease
        delivery.save(update_fields=["attempts", "lease_until"])
        number = AlertDeliveryAttempt.objects.filter(delivery=delivery).count() + 1
        attempt = AlertDeliveryAttempt.objects.create(delivery=delivery, number=number, worker=_worker_name(),
                                                      started_at=now)
    return delivery, attempt


def _delivery_finish(delivery: AlertDelivery, attempt: AlertDeliveryAttempt, result: alerting.SendResult) -> str:
    """Store the attempt's answer and what follows: delivered (final), another try after the
    backoff, or failed once the attempts are spent (a warning alert, not notified, says so)."""
    now = timezone.now()
    with transaction.atomic():
        AlertDeliveryAttempt.objects.filter(pk=attempt.pk).update(
            finished_at=now, status_code=result.status_code, ok=result.ok, error=result.error,
            duration_ms=result.duration_ms)
        row = AlertDelivery.objects.select_for_update().get(pk=delivery.pk)
        if row.status != DeliveryStatus.PENDING:  # another worker settled it while our lease had run out
            return row.status
        if row.attempts != delivery.attempts and not result.ok:  # another worker claimed it since: its call
            return row.status
        row.lease_until = None
        if result.ok:
            row.status, row.delivered_at, row.last_error = DeliveryStatus.DELIVERED, now, ""
        elif row.attempts >= settings.ALERT_DELIVERY_MAX_ATTEMPTS:
            row.status, row.last_error = DeliveryStatus.FAILED, result.error
        else:
            row.last_error = result.error
            row.next_attempt_at = now + conditions.backoff_delay(
                row.attempts, base_seconds=settings.ALERT_DELIVERY_BACKOFF_SECONDS,
                max_seconds=settings.ALERT_DELIVERY_BACKOFF_MAX_SECONDS)
        row.save(update_fields=["status", "delivered_at", "last_error", "lease_until", "next_attempt_at"])
        if row.status == DeliveryStatus.FAILED:
            alert_raise(dedup_key=f"alert_delivery_failed:{row.channel}", severity=AlertSeverity.WARNING,
                        title=f"Alert notifications by {row.channel} are failing",
                        evidence={"delivery_id": row.pk, "alert_id": row.alert_id, "attempts": row.attempts,
                                  "last_error": row.last_error}, actor="system:alert-delivery", notify=False)
    return row.status


def alert_deliveries_run(*, max_deliveries: int = 500, time_budget_seconds: float = 50.0) -> dict[str, int]:
    """Send what is due, one delivery at a time, until nothing is due or the budget is spent.

    Safe to run in several workers at once and to kill at any moment: a delivery is claimed under a
    row lock with SKIP LOCKED and a lease, the attempt row is written before the request leaves, and
    a delivered row is final. A worker killed mid-send leaves its attempt unfinished; once the lease
    ends the next run sends it again under the same ``X-Torghut-Delivery`` id. Nothing the receiver
    answered 2xx is ever sent again.
    """
    import time

    started = time.monotonic()
    tally = {"sent": 0, "delivered": 0, "retrying": 0, "failed": 0}
    while tally["sent"] < max_deliveries and time.monotonic() - started < time_budget_seconds:
        claimed = _delivery_claim(timezone.now())
        if claimed is None:
            break
        delivery, attempt = claimed
        result = alerting.send(channel=delivery.channel, target=delivery.target, payload=delivery.payload,
                               delivery_id=delivery.pk, event=delivery.event)
        status = _delivery_finish(delivery, attempt, result)
        tally["sent"] += 1
        tally[{"delivered": "delivered", "failed": "failed"}.get(status, "retrying")] += 1
    return tally


def alert_delivery_requeue(*, delivery_id: int, actor: str, via: str = Via.ADMIN) -> AlertDelivery:
    """Send a failed delivery again (its attempts start over). Audited."""
    with transaction.atomic():
        row = AlertDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if row is None:
            raise NotFound(f"No delivery #{delivery_id}.")
        if row.status != DeliveryStatus.FAILED:
            raise Conflict(f"Delivery #{row.pk} is {row.status}; only a failed one is queued again.",
                           code="delivery_not_failed")
        row.status, row.attempts, row.next_attempt_at, row.lease_until = DeliveryStatus.PENDING, 0, timezone.now(), None
        row.save(update_fields=["status", "attempts", "next_attempt_at", "lease_until"])
        audit_record(actor=actor, via=via, action="alert_delivery_requeue", object_ref=f"alert_delivery:{row.pk}",
                     details={"before": DeliveryStatus.FAILED, "after": DeliveryStatus.PENDING})
    transaction.on_commit(_wake_delivery_worker)
    return row


# --- Trading state and LEAN lane, as the conditions move them --------------------------------

STALENESS_ACTOR = "system:staleness"
FAILURE_STREAK_ACTOR = "system:autonomy-failures"
LEAN_CIRCUIT_ACTOR = "system:lean-circuit"


def _trading_reduce(*, reason: str, actor: str, cause: str, evidence: dict) -> bool:
    """Move global trading to REDUCING unless it is already as strict or stricter (a condition never
    loosens a state). True if it moved."""
    row = _global_locked()
    if STATE_RANK[row.state] >= STATE_RANK[TradingStateChoice.REDUCING]:
        return False
    trading_state_set(state=TradingStateChoice.REDUCING, reason=reason, actor=actor, via=Via.WORKER, cause=cause,
                      evidence=evidence)
    return True


def _reducing_for(cause: str, *, lock: bool = False) -> bool:
    """Global trading is REDUCING for ``cause`` (nobody changed it since the condition set it). A plain
    read unless ``lock`` (then the global row is held until the transaction ends, to act on the answer)."""
    if lock:
        row = _global_locked()
        return row.state == TradingStateChoice.REDUCING and row.cause == cause
    return TradingState.objects.filter(id=1, state=TradingStateChoice.REDUCING, cause=cause).exists()


_SWEEP_CLAIM = ("INSERT INTO autonomy_sweep_cycles (sweep, cycle, at) VALUES (%s, %s, now()) "
                "ON CONFLICT (sweep, cycle) DO NOTHING RETURNING id")


def sweep_claim(*, sweep: str, cycle: int) -> bool:
    """Claim one sweep's period: True for the first caller, False for any other (a task delivered twice,
    a second cluster). Inside the sweep's transaction, so a sweep that fails leaves the period unclaimed."""
    with connection.cursor() as cursor:
        cursor.execute(_SWEEP_CLAIM, [sweep, cycle])
        return cursor.fetchone() is not None


def _lean_enabled() -> bool:
    """A plain read (the order path calls this): disabling the lane twice is harmless."""
    row = TradingState.objects.filter(id=1).only("lean_enabled").first()
    return True if row is None else row.lean_enabled


# --- Heartbeats and the failure streak -------------------------------------------------------

FUTURE_TOLERANCE = timedelta(seconds=300)


def heartbeat_record(*, source: str, observed_at: datetime, symbol: str = "", status: str = HeartbeatStatus.OK,
                     detail: str = "", actor: str, now: datetime | None = None) -> SignalSource:
    """Store one heartbeat of an autonomy loop and keep its source's latest state.

    A ``failed`` cycle extends the source's failure streak; at ``AUTONOMY_FAILURE_STREAK`` (3) in a
    row trading moves to REDUCING at once (an operator lifts it) and a warning alert opens. Every
    evaluation of the streak is stored with its inputs. ``now`` (when it was received) is for tests.
    """
    now = now or timezone.now()
    if observed_at > now + FUTURE_TOLERANCE:
        raise InvalidInput("observed_at is in the future.",
                           details={"fields": {"observed_at": [f"later than the server's clock {now.isoformat()} "
                                                               "by more than 300 s"]}})
    symbol = symbol.upper()
    with transaction.atomic():
        Heartbeat.objects.create(source=source, symbol=symbol, observed_at=observed_at, received_at=now,
                                 status=status, detail=detail, actor=actor)
        row = SignalSource.objects.select_for_update().filter(source=source, symbol=symbol).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = SignalSource.objects.create(source=source, symbol=symbol, last_observed_at=observed_at,
                                                      last_received_at=now)
            except IntegrityError:
                row = SignalSource.objects.select_for_update().get(source=source, symbol=symbol)
        before_streak = row.failure_streak
        row.last_observed_at = max(row.last_observed_at, observed_at)
        row.last_received_at, row.last_status, row.beats = now, status, row.beats + 1
        row.failure_streak = row.failure_streak + 1 if status == HeartbeatStatus.FAILED else 0
        row.expected = True  # a retired source that reports again is judged again
        row.save()
        if status == HeartbeatStatus.FAILED or before_streak:
            _failure_streak_apply(row, detail=detail, actor=actor)
    return row


def signal_source_retire(*, source_id: int, reason: str, actor: str, roles=frozenset(),
                         via: str = Via.ADMIN) -> SignalSource:
    """Stop expecting a source that stopped for good: the stale-signal rule no longer judges it (its next
    heartbeat makes it expected again). An operator's act, recorded as a control event."""
    reason = _reason(reason)
    _refuse(rules.source_retire_refusal(kind=rules.actor_kind(actor, roles)))
    with transaction.atomic():
        row = SignalSource.objects.select_for_update().filter(pk=source_id).first()
        if row is None:
            raise NotFound(f"No signal source {source_id}.")
        if row.expected:
            row.expected = False
            row.save(update_fields=["expected"])
            control_event_record(kind=ControlKind.SIGNAL_SOURCE, scope=f"source:{row}", actor=actor, via=via,
                                 reason=reason, before={"expected": True}, after={"expected": False},
                                 evidence={"last_observed_at": row.last_observed_at.isoformat(),
                                           "last_received_at": row.last_received_at.isoformat()})
            audit_record(actor=actor, via=via, action="signal_source_retire", object_ref=f"source:{row}",
                         actor_roles=roles, details={"before": {"expected": True}, "after": {"expected": False}})
    return row


def _failure_streak_apply(row: SignalSource, *, detail: str, actor: str) -> None:
    verdict = conditions.failure_streak_evaluate(streak=row.failure_streak, threshold=settings.AUTONOMY_FAILURE_STREAK)
    scope = f"source:{row}"
    action = None
    evidence = {"source": row.source, "symbol": row.symbol, "streak": row.failure_streak, "last_detail": detail}
    if verdict.tripped:
        if _trading_reduce(reason=f"autonomy_failure_streak: {row} failed {row.failure_streak} cycles in a row",
                           actor=FAILURE_STREAK_ACTOR, cause=StateCause.FAILURE_STREAK, evidence=evidence):
            action = conditions.REDUCE
        alert_raise(dedup_key=f"autonomy_failure_streak:{row}", severity=AlertSeverity.WARNING,
                    title=f"Autonomy loop {row} failed {row.failure_streak} cycles in a row: trading is REDUCING",
                    evidence=evidence, actor=FAILURE_STREAK_ACTOR)
    condition_evaluation_record(condition=ConditionKind.FAILURE_STREAK, scope=scope,
                                inputs={**evidence, "reported_by": actor}, outcome=conditions.as_data(verdict),
                                breached=verdict.tripped, action=action or "", actor=FAILURE_STREAK_ACTOR)


# --- Heartbeat retention -----------------------------------------------------------------------

_HEARTBEATS_PRUNE = """
DELETE FROM autonomy_heartbeats WHERE id IN (
  SELECT id FROM autonomy_heartbeats WHERE received_at < %s ORDER BY received_at LIMIT %s FOR UPDATE SKIP LOCKED)
"""


def heartbeats_prune(*, now: datetime | None = None, batch_size: int = 5000,
                     time_budget_seconds: float = 50.0) -> dict:
    """Delete the heartbeats received more than ``HEARTBEAT_RETENTION_DAYS`` ago, ``batch_size`` rows per
    transaction (short locks; a second pruner skips the rows the first holds), until none is left or the
    time budget is spent (the next run goes on). The sources' latest state (:class:`SignalSource`, which
    the stale-signal rule and the pages read) is not touched; the playbook reads only its recent window."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.HEARTBEAT_RETENTION_DAYS)
    started, deleted, batches = time.monotonic(), 0, 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_HEARTBEATS_PRUNE, [cutoff, batch_size])
            count = cursor.rowcount
        deleted, batches = deleted + count, batches + 1
        if count < batch_size or time.monotonic() - started > time_budget_seconds:
            break
    return {"deleted": deleted, "batches": batches, "before": cutoff.isoformat(),
            "retention_days": settings.HEARTBEAT_RETENTION_DAYS}


# --- Stale signals ---------------------------------------------------------------------------

def freshness_policy() -> conditions.FreshnessPolicy:
    return conditions.FreshnessPolicy(lag_seconds=settings.AUTONOMY_STALE_LAG_SECONDS,
                                      no_signal_cycles=settings.AUTONOMY_NO_SIGNAL_CYCLES,
                                      recovery_cycles=settings.AUTONOMY_RECOVERY_CYCLES)


def market_session() -> conditions.MarketSession:
    return conditions.MarketSession.parse(settings.AUTONOMY_MARKET_SESSION)


def sweep_cycle(now: datetime, minutes: int | None = None) -> int:
    """The number of the sweep period ``now`` falls in (one evaluation per condition and period), in
    periods of ``minutes`` (default ``AUTONOMY_SWEEP_MINUTES``)."""
    return locks.period_index(now, minutes or settings.AUTONOMY_SWEEP_MINUTES)


def staleness_sweep(*, now: datetime | None = None) -> ConditionEvaluation | None:
    """One cycle of the stale-signal rule, per expected source: evaluate, store the evaluation with its
    inputs (the sources judged, the earlier cycles, how many sources are expected and breaching), act.

    Idempotent per cycle and safe to run concurrently: the state row is claimed with
    ``FOR UPDATE SKIP LOCKED`` (another sweep holding it -> None), and a cycle already evaluated is
    not evaluated again (None; :func:`sweep_claim`).
    """
    now = now or timezone.now()
    cycle = sweep_cycle(now)
    policy = freshness_policy()
    with transaction.atomic():
        FreshnessState.objects.get_or_create(id=1)
        state = FreshnessState.objects.select_for_update(skip_locked=True).filter(id=1).first()
        if state is None or not sweep_claim(sweep=ConditionKind.STALE_SIGNALS, cycle=cycle):
            return None
        session = conditions.in_session(now, market_session())
        previous = sorted(state.recent_cycles)
        sources, expected, breaching = signal_freshness(now=now, in_session=session, lag_seconds=policy.lag_seconds,
                                                        previous_cycles=previous,
                                                        no_signal_cycles=policy.no_signal_cycles)
        inputs = conditions.FreshnessInputs(now=now, in_session=session, sources=sources, previous_cycles=previous,
                                            clean_streak=state.clean_streak,
                                            tripped=_reducing_for(StateCause.FRESHNESS))
        verdict = conditions.freshness_evaluate(inputs, policy)
        counts = {"expected_sources": expected, "breaching_sources": breaching}
        action = _freshness_apply(verdict, counts, tripped=inputs.tripped)
        state.last_cycle_at, state.recent_cycles = now, verdict.cycles
        state.no_signal_streak, state.clean_streak = verdict.no_signal_streak, verdict.clean_streak
        state.save()
        outcome = conditions.as_data(verdict)
        outcome.pop("cycles")  # the next cycle's memory, already in the inputs' previous_cycles plus now
        return condition_evaluation_record(
            condition=ConditionKind.STALE_SIGNALS, scope="global",
            inputs={**conditions.as_data(inputs), **counts, "cycle": cycle}, outcome=outcome,
            breached=verdict.stale, action=action or "", actor=STALENESS_ACTOR)


def _freshness_apply(verdict: conditions.FreshnessVerdict, counts: dict, *, tripped: bool) -> str | None:
    evidence = {"lag_seconds": verdict.lag_seconds, "no_signal_streak": verdict.no_signal_streak,
                "reasons": verdict.reasons, "breaching": verdict.breaching[:20], **counts}
    if verdict.stale:
        alert_raise(dedup_key="stale_signals", severity=AlertSeverity.WARNING,
                    title=(f"Autonomy signals are stale ({counts['breaching_sources']} of "
                           f"{counts['expected_sources']} sources): " + "; ".join(verdict.reasons))[:300],
                    evidence=evidence, actor=STALENESS_ACTOR)
    if verdict.action == conditions.REDUCE:
        moved = _trading_reduce(reason="stale_signals: " + "; ".join(verdict.reasons), actor=STALENESS_ACTOR,
                                cause=StateCause.FRESHNESS, evidence=evidence)
        return conditions.REDUCE if moved else None
    if verdict.action == conditions.RECOVER:
        if not _reducing_for(StateCause.FRESHNESS, lock=True):  # changed since it was read: not ours to lift
            return None
        trading_state_set(state=TradingStateChoice.ACTIVE, actor=STALENESS_ACTOR, via=Via.WORKER,
                          cause=StateCause.FRESHNESS, evidence=evidence,
                          reason=f"stale_signals cleared: {verdict.clean_streak} clean cycles")
        alert_clear(dedup_key="stale_signals", actor=STALENESS_ACTOR,
                    reason=f"signals fresh again for {verdict.clean_streak} cycles; trading is ACTIVE")
        return conditions.RECOVER
    if not verdict.stale and not tripped:
        alert_clear(dedup_key="stale_signals", actor=STALENESS_ACTOR, reason="signals are fresh again")
    return None


# --- LEAN circuit ----------------------------------------------------------------------------

LEAN_INCIDENT_KIND = "lean_circuit"


def lean_circuit_policy() -> conditions.LeanCircuitPolicy:
    return conditions.LeanCircuitPolicy(fallback_ratio=settings.AUTONOMY_LEAN_FALLBACK_RATIO,
                                        min_requests=settings.AUTONOMY_LEAN_MIN_REQUESTS,
                                        window_seconds=settings.TRADING_LEAN_CIRCUIT_WINDOW_SECONDS,
                                        recovery_probes=settings.AUTONOMY_LEAN_RECOVERY_PROBES)


def lean_circuit_check(*, requests: int, fallbacks: int, outage_open: bool, outage_reason: str = "",
                       trigger: str, cycle: int | None = None) -> conditions.LeanCircuitVerdict | None:
    """Evaluate the LEAN circuit on figures execution measured, store the evaluation and, on a breach
    while the lane is on, disable it at once with an incident and a critical alert, all in the
    caller's transaction (the order path calls this as the failure happens; the sweep is a backstop).
    While the lane is off and no unresolved ``lean_lane`` alert stands for it, the alert is raised again (the
    flag keeps its alert until the lane is enabled; readiness' ``critical_flags_alerting`` reads it).
    None when this cycle was already evaluated."""
    with transaction.atomic():
        lean_enabled = _lean_enabled()
        inputs = conditions.LeanCircuitInputs(
            lean_enabled=lean_enabled, outage_open=outage_open, requests=requests, fallbacks=fallbacks,
            outage_reason=outage_reason, alert_open=lean_enabled or _lean_alert_unresolved())
        verdict = conditions.lean_circuit_evaluate(inputs, lean_circuit_policy())
        if cycle is not None and not sweep_claim(sweep=ConditionKind.LEAN_CIRCUIT, cycle=cycle):
            return None
        if verdict.action == conditions.DISABLE_LEAN:
            _lean_disable(verdict, inputs, trigger=trigger)
        elif verdict.action == conditions.RAISE_LEAN_ALERT:
            _lean_alert_again(trigger=trigger)
        condition_evaluation_record(
            condition=ConditionKind.LEAN_CIRCUIT, scope="global",
            inputs={**conditions.as_data(inputs), "trigger": trigger, "cycle": cycle},
            outcome=conditions.as_data(verdict), breached=verdict.breached, action=verdict.action or "",
            actor=LEAN_CIRCUIT_ACTOR)
    return verdict


def _lean_alert_unresolved() -> bool:
    return Alert.objects.exclude(status=AlertStatus.RESOLVED).filter(dedup_key=LEAN_ALERT_KEY).exists()


def _lean_alert_again(*, trigger: str) -> None:
    """The lane is off and no unresolved alert stands for it (one resolved by hand before that was refused):
    raise it again, as the control event that disabled the lane did."""
    row = selectors.trading_state_row()
    _lean_alert_raise(reason=row.lean_disabled_reason, actor=LEAN_CIRCUIT_ACTOR, evidence={
        "raised_again": "the LEAN lane is disabled and no unresolved alert stood for it", "trigger": trigger,
        "disabled_by": row.updated_by, "disabled_reason": row.lean_disabled_reason})


def _lean_alert_raise(*, reason: str, actor: str, evidence: dict) -> Alert:
    return alert_raise(dedup_key=LEAN_ALERT_KEY, severity=AlertSeverity.CRITICAL, actor=actor,
                       title=f"LEAN lane disabled: {reason}"[:300], evidence=evidence)


def _lean_disable(verdict: conditions.LeanCircuitVerdict, inputs: conditions.LeanCircuitInputs, *,
                  trigger: str) -> None:
    """The lane goes off (its control event raises the critical ``lean_lane`` alert), the recovery watch
    starts, and an incident opens, linked to the alert."""
    reason = "lean_circuit: " + "; ".join(verdict.reasons)
    evidence = {**conditions.as_data(inputs), "ratio": verdict.ratio, "reasons": verdict.reasons, "trigger": trigger}
    lean_lane_set(enabled=False, reason=reason, actor=LEAN_CIRCUIT_ACTOR, via=Via.WORKER, evidence=evidence)
    LeanRecovery.objects.update_or_create(id=1, defaults={"tripped": True, "tripped_at": timezone.now(),
                                                          "clean_probes": 0})
    alert = Alert.objects.exclude(status=AlertStatus.RESOLVED).filter(dedup_key=LEAN_ALERT_KEY).first()
    incident_open(kind=LEAN_INCIDENT_KIND, reason=reason, evidence=evidence, alert=alert)


def incident_open(*, kind: str, reason: str, evidence: dict, alert: Alert | None = None,
                  severity: str = AlertSeverity.CRITICAL) -> Incident:
    """Open the incident of this kind, or return the one already open."""
    with transaction.atomic():
        open_now = Incident.objects.select_for_update().filter(kind=kind, status=IncidentStatus.OPEN).first()
        if open_now is not None:
            return open_now
        try:
            with transaction.atomic():
                incident = Incident.objects.create(kind=kind, severity=severity, reason=reason, evidence=evidence,
                                                   alert=alert)
        except IntegrityError:
            return Incident.objects.get(kind=kind, status=IncidentStatus.OPEN)
        audit_record(actor=LEAN_CIRCUIT_ACTOR if kind == LEAN_INCIDENT_KIND else "system", via=Via.WORKER,
                     action="incident_open", object_ref=f"incident:{incident.pk}",
                     details={"kind": kind, "reason": reason})
    return incident


def incident_close(*, kind: str, actor: str, reason: str, via: str = Via.WORKER) -> Incident | None:
    with transaction.atomic():
        incident = Incident.objects.select_for_update().filter(kind=kind, status=IncidentStatus.OPEN).first()
        if incident is None:
            return None
        incident.status, incident.closed_at = IncidentStatus.CLOSED, timezone.now()
        incident.closed_by, incident.close_reason = actor, reason
        incident.save(update_fields=["status", "closed_at", "closed_by", "close_reason"])
        audit_record(actor=actor, via=via, action="incident_close", object_ref=f"incident:{incident.pk}",
                     details={"kind": kind, "reason": reason, "before": IncidentStatus.OPEN,
                              "after": IncidentStatus.CLOSED})
    return incident


def lean_recovery_probe(*, probe_ok: bool, outage_open: bool, detail: str = "",
                        cycle: int | None = None) -> conditions.LeanRecoveryVerdict | None:
    """One health probe of a lane the circuit disabled. Counts clean probes; when the policy allows
    (``AUTONOMY_LEAN_RECOVERY_PROBES`` > 0) and enough came in a row, the lane comes back, the
    incident closes and the alert resolves. A lane an operator enabled meanwhile just ends the
    watch. None when the circuit has not disabled the lane (or another sweep holds the row)."""
    with transaction.atomic():
        LeanRecovery.objects.get_or_create(id=1)
        row = LeanRecovery.objects.select_for_update(skip_locked=True).filter(id=1, tripped=True).first()
        if row is None or (cycle is not None and not sweep_claim(sweep=ConditionKind.LEAN_RECOVERY, cycle=cycle)):
            return None
        if _lean_enabled():  # an operator brought it back
            row.tripped, row.clean_probes = False, 0
            row.save()
            return None
        verdict = conditions.lean_recovery_evaluate(probe_ok=probe_ok, clean_probes=row.clean_probes,
                                                    outage_open=outage_open, policy=lean_circuit_policy())
        row.clean_probes, row.last_probe_at = verdict.clean_probes, timezone.now()
        row.save()
        action = verdict.action or ""
        outcome = conditions.as_data(verdict)
        if verdict.action == conditions.ENABLE_LEAN:  # its control event ends the watch, incident and alert
            try:
                with transaction.atomic():
                    lean_lane_set(enabled=True, reason=verdict.reason, actor=LEAN_CIRCUIT_ACTOR, via=Via.WORKER,
                                  evidence=outcome)
            except PolicyRefused as refused:  # Phase D: the lane stays off until readiness holds
                action, outcome = "held_by_readiness", {**outcome, "refused": refused.message}
        condition_evaluation_record(
            condition=ConditionKind.LEAN_RECOVERY, scope="global",
            inputs={"probe_ok": probe_ok, "outage_open": outage_open, "detail": detail[:500], "cycle": cycle},
            outcome=outcome, breached=not probe_ok, action=action, actor=LEAN_CIRCUIT_ACTOR)
    return verdict


# --- Position drift -----------------------------------------------------------------------------

RECONCILE_ACTOR = "system:reconcile"
# Every symbol's figures go to the server as five texts (the symbols a JSON array, the quantities comma-
# separated: binding thousands of array elements costs more than the write). One statement writes only what
# changed: symbols whose figures differ are updated, new ones inserted (no ON CONFLICT: reconciliations are
# serialised on the run row, taken first), and symbols no longer compared removed.
_DRIFT_STORE = """
WITH v AS (
  SELECT * FROM unnest(
    ARRAY(SELECT e FROM json_array_elements_text(%(symbols)s::json) WITH ORDINALITY AS t(e, n) ORDER BY n),
    string_to_array(%(ours)s, ',')::numeric[], string_to_array(%(broker)s, ',')::numeric[],
    string_to_array(%(in_flight)s, ',')::numeric[], string_to_array(%(drift)s, ',')::numeric[]
  ) AS v(symbol, ours_qty, broker_qty, in_flight_qty, drift)
), gone AS (
  DELETE FROM autonomy_symbol_drift d WHERE NOT EXISTS (SELECT 1 FROM v WHERE v.symbol = d.symbol) RETURNING 1
), changed AS (
  UPDATE autonomy_symbol_drift d SET ours_qty = v.ours_qty, broker_qty = v.broker_qty,
    in_flight_qty = v.in_flight_qty, drift = v.drift, changed_at = %(now)s
  FROM v WHERE d.symbol = v.symbol
    AND (d.ours_qty, d.broker_qty, d.in_flight_qty, d.drift) IS DISTINCT FROM
        (v.ours_qty, v.broker_qty, v.in_flight_qty, v.drift)
  RETURNING 1
), added AS (
  INSERT INTO autonomy_symbol_drift (symbol, ours_qty, broker_qty, in_flight_qty, drift, changed_at)
  SELECT v.symbol, v.ours_qty, v.broker_qty, v.in_flight_qty, v.drift, %(now)s FROM v
  WHERE NOT EXISTS (SELECT 1 FROM autonomy_symbol_drift d WHERE d.symbol = v.symbol)
  RETURNING 1
)
SELECT (SELECT count(*) FROM changed) + (SELECT count(*) FROM added), (SELECT count(*) FROM gone)
"""
# Claims the run (concurrent reconciliations queue here) and records when it compared.
_DRIFT_RUN = """
INSERT INTO autonomy_position_reconciliation AS r (id, at, symbols, unexplained, changed, actor)
VALUES (1, %(now)s, %(symbols)s, %(unexplained)s, 0, %(actor)s)
ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at, symbols = EXCLUDED.symbols, unexplained = EXCLUDED.unexplained,
  changed = 0, actor = EXCLUDED.actor
"""


def positions_reconcile(*, facts: list[conditions.DriftFacts], actor: str = RECONCILE_ACTOR,
                        now: datetime | None = None) -> list:
    """Record, per symbol, the strategies' summed position, the broker's figure and the unexplained drift
    (:class:`SymbolDrift`: one statement, writing only the symbols whose figures changed; ``facts`` covers
    every symbol compared, and a symbol missing from them is no longer held anywhere: its row goes), note the
    run (:class:`PositionReconciliation`), store each evaluation that found a difference, open a critical
    alert per symbol with an unexplained drift and resolve those whose drift is gone."""
    verdicts = [conditions.position_drift(f) for f in facts]
    now = now or timezone.now()
    unexplained = sum(1 for v in verdicts if not v.explained)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_DRIFT_RUN, {"now": now, "symbols": len(facts), "unexplained": unexplained,
                                        "actor": actor})
            cursor.execute(_DRIFT_STORE, {
                "symbols": json.dumps([f.symbol for f in facts]), "ours": ",".join(str(f.ours) for f in facts),
                "broker": ",".join(str(f.broker) for f in facts),
                "in_flight": ",".join(str(f.in_flight) for f in facts),
                "drift": ",".join(str(v.drift) for v in verdicts), "now": now})
            changed, gone = cursor.fetchone()
            if changed or gone:
                cursor.execute("UPDATE autonomy_position_reconciliation SET changed = %s WHERE id = 1",
                               [changed + gone])
        open_keys = set(Alert.objects.exclude(status=AlertStatus.RESOLVED)
                        .filter(dedup_key__startswith="position_drift:").values_list("dedup_key", flat=True))
        for f, v in zip(facts, verdicts, strict=True):
            if not v.difference and not open_keys:  # in line, nothing to resolve: the usual case, kept cheap
                continue
            key = f"position_drift:{f.symbol}"
            if v.difference:
                condition_evaluation_record(condition=ConditionKind.POSITION_DRIFT, scope=f"symbol:{f.symbol}",
                                            inputs=f.as_json(), outcome=v.as_json(), breached=not v.explained,
                                            action="" if v.explained else "alert", actor=actor)
            if not v.explained:
                alert_raise(dedup_key=key, severity=AlertSeverity.CRITICAL, actor=actor,
                            title=f"Position drift on {f.symbol}: {v.reason}",
                            evidence={**f.as_json(), **v.as_json()})
            elif key in open_keys:
                alert_clear(dedup_key=key, actor=actor, reason=f"{f.symbol}: {v.reason}")
    return verdicts


# --- Budgets' day roll -------------------------------------------------------------------------

BUDGET_ROLL_ACTOR = "system:budget-day-roll"


def budgets_day_roll(*, day=None) -> dict:
    """Once per UTC day (claimed like a sweep period): create the day's budget rows and resolve the
    breach alerts of earlier days. The trading state a breach moved stays: only an operator lifts it."""
    day = day or budget_today()
    with transaction.atomic():
        if not sweep_claim(sweep="budget_day_roll", cycle=day.toordinal()):
            return {"day": day.isoformat(), "resolved": 0, "rolled": False}
        with connection.cursor() as cursor:
            cursor.execute(_ENSURE_TODAY, {"day": day, "names": sorted(BudgetName.values)})
        resolved = 0
        for alert in Alert.objects.exclude(status=AlertStatus.RESOLVED).filter(dedup_key__startswith="budget:"):
            if str(alert.evidence.get("day", "")) < day.isoformat():
                alert_clear(dedup_key=alert.dedup_key, actor=BUDGET_ROLL_ACTOR,
                            reason=f"a new budget day ({day.isoformat()}) started; the trading state the breach "
                                   "moved stays until an operator lifts it")
                resolved += 1
    return {"day": day.isoformat(), "resolved": resolved, "rolled": True}


# --- Critical control changes raise alerts (called by control_event_record) -------------------

def control_change_alerts(*, kind: str, scope: str, actor: str, reason: str, before: dict, after: dict,
                          evidence: dict) -> None:
    """Alerts for control changes, in the transaction that makes the change: a trading state (global or
    a strategy's) moving to HALTED is critical, to REDUCING a warning, and the alert resolves when the
    state is lifted; the LEAN lane going off is critical and resolves (with the circuit's incident and
    recovery watch) when it comes back on."""
    if kind in (ControlKind.TRADING_STATE, ControlKind.STRATEGY_STATE):
        old, new = before.get("state"), after.get("state")
        if old == new:
            return
        key = state_alert_key(scope)
        if old in STATE_RANK and new in STATE_RANK and STATE_RANK[new] < STATE_RANK[old]:
            alert_clear(dedup_key=key, actor=actor, reason=f"trading {scope} moved from {old} to {new}: {reason}")
        if new != TradingStateChoice.ACTIVE:
            where = "globally" if scope == "global" else f"for {scope.removeprefix('strategy:')}"
            alert_raise(dedup_key=key, actor=actor,
                        severity=AlertSeverity.CRITICAL if new == TradingStateChoice.HALTED else AlertSeverity.WARNING,
                        title=f"Trading is {new} {where}: {reason}"[:300],
                        evidence={"scope": scope, "before": before, "after": after, "by": actor,
                                  "cause": after.get("cause"), **({"evidence": evidence} if evidence else {})})
    elif kind == ControlKind.LEAN_LANE and before.get("enabled") != after.get("enabled"):
        if after.get("enabled"):
            alert_clear(dedup_key=LEAN_ALERT_KEY, actor=actor, reason=f"LEAN lane enabled again: {reason}")
            incident_close(kind=LEAN_INCIDENT_KIND, actor=actor, reason=f"LEAN lane enabled again: {reason}")
            LeanRecovery.objects.filter(id=1, tripped=True).update(tripped=False, clean_probes=0)
        else:
            _lean_alert_raise(reason=reason, actor=actor, evidence={
                "by": actor, "before": before, "after": after, **({"evidence": evidence} if evidence else {})})


def budget_breach_alert(*, facts: BudgetFacts, inputs: dict, moved_to: str | None) -> None:
    """A budget breach is critical whatever the state did; the day's roll resolves it (the trading state
    it moved stays until an operator lifts it)."""
    alert_raise(dedup_key=budget_alert_key(facts.name), severity=AlertSeverity.CRITICAL, actor="system:budget",
                title=f"Budget {facts.name} breached: used {decimal_str(facts.used + facts.amount)} of "
                      f"{decimal_str(facts.limit)} today" + (f"; trading moved to {moved_to}" if moved_to else ""),
                evidence={**inputs, "moved_to": moved_to})


# --- Recovery playbook --------------------------------------------------------------------------

PLAYBOOK_ACTOR = "system:playbook"
SHIPPED_PLAYBOOK = Path(__file__).resolve().parent / "playbooks" / "playbook-v1.json"


def playbook_load(*, document: Any, actor: str, via: str = Via.COMMAND) -> tuple[PlaybookVersion, bool]:
    """Store a playbook version (validated, hashed, audited). The same document again is a no-op; another
    document under a stored version is a 409 ``playbook_version_conflict``."""
    problems = playbook.document_problems(document)
    if problems:
        raise invalid_fields("The playbook is invalid", problems, code="invalid_playbook")
    with transaction.atomic():
        row, created = version_store(model=PlaybookVersion, document=document, noun="playbook",
                                     code="playbook_version_conflict", created_by=actor)
        if created:
            audit_record(actor=actor, via=via, action="playbook_load", object_ref=f"playbook:{row.version}",
                         details={"sha256": row.sha256})
    return row, created


def playbook_activate(*, version: str, actor: str, reason: str, roles=frozenset(),
                      via: str = Via.COMMAND) -> PlaybookActivation:
    """Run ``version`` from now on: an append-only activation and a control event (before and after)."""
    reason = _reason(reason)
    if rules.actor_kind(actor, roles) == rules.AGENT:
        raise PermissionRefused("Agents may never change the recovery playbook.", code="agent_forbidden")
    with transaction.atomic():
        locks.xact_lock("playbook:activation")
        row = PlaybookVersion.objects.filter(version=version).first()
        if row is None:
            raise InvalidInput(f"Unknown playbook version {version!r}.", code="unknown_playbook",
                               details={"fields": {"version": ["unknown"]}})
        current = playbook_active()
        activation = PlaybookActivation.objects.create(playbook=row, previous=current, actor=actor, reason=reason)
        before = {"version": current.version if current else None, "sha256": current.sha256 if current else None}
        after = {"version": row.version, "sha256": row.sha256}
        control_event_record(kind=ControlKind.PLAYBOOK, scope="playbook", actor=actor, via=via, reason=reason,
                             before=before, after=after)
        audit_record(actor=actor, via=via, action="playbook_activate", object_ref=f"playbook:{version}",
                     actor_roles=roles, details={"before": before, "after": after})
    return activation


def playbook_ensure() -> PlaybookVersion:
    """The active playbook; with none active yet, the shipped one is loaded and activated (recorded as
    the system's choice, which an operator may replace)."""
    active = playbook_active()
    if active is not None:
        return active
    document = json.loads(SHIPPED_PLAYBOOK.read_text())
    row, _ = playbook_load(document=document, actor=PLAYBOOK_ACTOR, via=Via.WORKER)
    with transaction.atomic():
        locks.xact_lock("playbook:activation")
        if playbook_active() is None:
            playbook_activate(version=row.version, actor=PLAYBOOK_ACTOR, via=Via.WORKER,
                              reason="no playbook was active: the shipped one")
    return playbook_active()


def playbook_run(*, slippage: dict, routes: list[dict], now: datetime | None = None) -> dict | None:
    """One cycle of the recovery playbook on the window's figures (execution measures slippage and route
    notional; heartbeats, modes, the state and open alerts are read here). Each action goes through the
    control services as ``system:playbook`` and is recorded as a ``playbook`` control event with the rule,
    the figures and the document, for an operator to review. None when the cycle was already run."""
    now = now or timezone.now()
    version = playbook_ensure()
    document = version.document
    with transaction.atomic():
        cycle = sweep_cycle(now, settings.AUTONOMY_PLAYBOOK_MINUTES)
        if not sweep_claim(sweep=ConditionKind.PLAYBOOK, cycle=cycle):
            return None
        ok, total = heartbeat_quality(since=now - timedelta(minutes=document["window_minutes"]))
        state = _global_locked().state
        open_alerts = frozenset(Alert.objects.exclude(status=AlertStatus.RESOLVED)
                                .filter(dedup_key__startswith="playbook:").values_list("dedup_key", flat=True))
        metrics = playbook.PlaybookMetrics(slippage=slippage, heartbeats_ok=ok, heartbeats_total=total,
                                           routes=routes, symbol_modes=symbol_modes(), trading_state=state,
                                           open_alerts=open_alerts)
        actions = playbook.evaluate(document, metrics)
        for action in actions:
            _playbook_apply(action, version)
        inputs = {"cycle": cycle, "now": now.isoformat(), "playbook": version.version,
                  "sha256": version.sha256, "heartbeats": {"ok": ok, "total": total}, "trading_state": state,
                  "slippage": {s: [str(b), n] for s, (b, n) in slippage.items()},
                  "routes": [{**r, "notional": str(r["notional"])} for r in routes],
                  "open_alerts": sorted(open_alerts)}
        outcome = {"actions": [_action_json(a) for a in actions]}
        condition_evaluation_record(condition=ConditionKind.PLAYBOOK, scope="global", inputs=inputs, outcome=outcome,
                                    breached=bool(actions), action=",".join(sorted({a.kind for a in actions})),
                                    actor=PLAYBOOK_ACTOR)
    return outcome


def _action_json(action: playbook.PlaybookAction) -> dict:
    return {"rule": action.rule, "kind": action.kind, "target": action.target, "value": action.value,
            "reason": action.reason, "evidence": action.evidence}


def _playbook_apply(action: playbook.PlaybookAction, version: PlaybookVersion) -> None:
    evidence = {**action.evidence, "rule": action.rule, "playbook": version.version, "sha256": version.sha256}
    reason = f"playbook {action.rule}: {action.reason}"
    before: dict = {}
    if action.kind == "symbol_mode":
        before = {"mode": symbol_modes().get(action.target, SymbolMode.ENABLED)}
        caps = version.document.get("canary_caps") if action.value == SymbolMode.CANARY else None
        symbol_mode_set(symbol=action.target, mode=action.value, reason=reason, actor=PLAYBOOK_ACTOR, via=Via.WORKER,
                        caps=caps, evidence=evidence)
        alert_raise(dedup_key=playbook.alert_key(action.rule, action.target), severity=AlertSeverity.WARNING,
                    title=f"Playbook put {action.target} to {action.value}: {action.reason}", evidence=evidence,
                    actor=PLAYBOOK_ACTOR)
    elif action.kind == "trading_state":
        before = {"state": _global_locked().state}
        _trading_reduce(reason=reason, actor=PLAYBOOK_ACTOR, cause=StateCause.PLAYBOOK, evidence=evidence)
    else:
        alert_raise(dedup_key=action.target, severity=AlertSeverity.WARNING, title=f"Playbook: {action.reason}",
                    evidence=evidence, actor=PLAYBOOK_ACTOR)
    control_event_record(kind=ControlKind.PLAYBOOK, scope=f"playbook:{action.rule}", actor=PLAYBOOK_ACTOR,
                         via=Via.WORKER, reason=reason, before={"target": action.target, **before},
                         after={"target": action.target, "kind": action.kind, "value": action.value},
                         evidence=evidence)


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
    alert_raise(dedup_key="llm_circuit", severity=AlertSeverity.WARNING, actor=actor,
                title=f"LLM circuit open until {after['open_until']}: {reason}",
                evidence={**evidence, "open_until": after["open_until"]})


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
    from promotions.services import active_signer  # promotions imports autonomy's services at load time

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
