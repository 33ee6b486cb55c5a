"""Persisted control flags that gate order flow: the trading state (global and per strategy), per-symbol
modes with canary caps, the LEAN lane, daily budgets, positions kept from fills, and the append-only
control events that record every change.

Execution reads these through :mod:`autonomy.selectors` inside its admission transaction; every write
goes through :mod:`autonomy.services`. The global row (``autonomy_trading_state``, id 1) is also the
control mutex: every control change locks it ``FOR UPDATE`` and every order admission ``FOR SHARE``.
"""
from __future__ import annotations

import uuid
from decimal import Decimal

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from access.choices import Via
from autonomy.choices import (
    ALERT_TRANSITIONS,
    BREACH_STATES,
    DELIVERY_TRANSITIONS,
    LANE_CYCLE_TRANSITIONS,
    LLM_STAGE_RANK,
    AlertEvent,
    AlertSeverity,
    AlertStatus,
    BudgetName,
    ControlKind,
    DeliveryChannel,
    DeliveryStatus,
    HeartbeatStatus,
    IncidentStatus,
    LaneCycleStatus,
    LaneStageStatus,
    LaneTrigger,
    LlmAllowlistKind,
    LlmAppliedVerdict,
    LlmMode,
    LlmStage,
    LlmVerdict,
    StateCause,
    SymbolMode,
    TradingStateChoice,
)
from core.chain import HashChained, hash_chain
from core.db import append_only
from ledger.models import Dataset
from promotions.choices import FailureClass, OrchestrationStage
from strategies.models import Strategy

QTY = {"max_digits": 24, "decimal_places": 8}


class TradingState(models.Model):
    """The single trading-state row (id = 1): ACTIVE | REDUCING | HALTED, and the LEAN lane switch."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    state = models.CharField(max_length=16, choices=TradingStateChoice.choices, default=TradingStateChoice.ACTIVE)
    reason = models.TextField(blank=True, default="")
    cause = models.CharField(max_length=32, choices=StateCause.choices, default=StateCause.MANUAL,
                             db_default=StateCause.MANUAL)
    lean_enabled = models.BooleanField(default=True)
    lean_disabled_reason = models.TextField(blank=True, default="")
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "autonomy_trading_state"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="trading_state_singleton"),
            models.CheckConstraint(condition=Q(state__in=TradingStateChoice.values), name="trading_state_valid"),
            models.CheckConstraint(condition=Q(lean_enabled=True) | ~Q(lean_disabled_reason=""),
                                   name="lean_disabled_needs_reason"),
        ]

    def __str__(self) -> str:
        return f"Global trading: {self.state}"


class SymbolControl(models.Model):
    """Per-symbol mode, health reason, canary caps and LEAN allowlist entry; a symbol without a row is
    ``enabled``, uncapped, and routed by the settings' allowlist policy."""

    symbol = models.CharField(max_length=32, unique=True)
    mode = models.CharField(max_length=16, choices=SymbolMode.choices, default=SymbolMode.ENABLED)
    reason = models.TextField(blank=True, default="", help_text="Why the last change was made.")
    health_reason = models.TextField(blank=True, default="", db_default="",
                                     help_text="Why the symbol is in this mode (shown in the status).")
    max_qty_per_order = models.DecimalField(**QTY, null=True, blank=True,
                                            help_text="Canary cap: largest quantity of one order.")
    max_notional_per_order = models.DecimalField(**QTY, null=True, blank=True,
                                                 help_text="Canary cap: largest qty x price of one order.")
    max_notional_per_day = models.DecimalField(**QTY, null=True, blank=True,
                                               help_text="Canary cap: notional of the symbol's orders per day (UTC).")
    lean_allowed = models.BooleanField(null=True, blank=True,
                                       help_text="LEAN allowlist entry: None follows the settings' policy.")
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "autonomy_symbol_controls"
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(condition=Q(mode__in=SymbolMode.values), name="symbol_mode_valid"),
            models.CheckConstraint(condition=Q(symbol=models.functions.Upper("symbol")), name="symbol_upper"),
            models.CheckConstraint(condition=(Q(max_qty_per_order__isnull=True) | Q(max_qty_per_order__gt=0))
                                   & (Q(max_notional_per_order__isnull=True) | Q(max_notional_per_order__gt=0))
                                   & (Q(max_notional_per_day__isnull=True) | Q(max_notional_per_day__gt=0)),
                                   name="symbol_caps_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol}: {self.mode}"


# === core: per-strategy state, control events, budgets, positions (issue 10) =====================

class StrategyTradingState(models.Model):
    """A strategy's own trading state; a strategy without a row is ACTIVE. The strictest of this and the
    global state applies to its orders."""

    strategy = models.OneToOneField(Strategy, on_delete=models.PROTECT, related_name="trading_state_row")
    state = models.CharField(max_length=16, choices=TradingStateChoice.choices, default=TradingStateChoice.ACTIVE)
    reason = models.TextField(blank=True, default="")
    cause = models.CharField(max_length=32, choices=StateCause.choices, default=StateCause.MANUAL)
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "autonomy_strategy_states"
        ordering = ["strategy__name"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=TradingStateChoice.values), name="strategy_state_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.strategy_id}: {self.state}"


class ControlEvent(HashChained):
    """One change of control state, with who, why, the evidence and the values before and after.
    Append-only (a trigger refuses UPDATE and DELETE) and hash-chained (``core.chain``); written in the
    transaction that makes the change."""

    kind = models.CharField(max_length=32, choices=ControlKind.choices)
    scope = models.CharField(max_length=160, help_text='"global", "strategy:NAME", "symbol:SYM", "budget:NAME"…')
    actor = models.CharField(max_length=150)
    via = models.CharField(max_length=16, choices=Via.choices)
    reason = models.TextField(blank=True, default="")
    evidence = models.JSONField(default=dict, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "autonomy_control_events"
        ordering = ["-id"]
        indexes = [models.Index(fields=["scope", "-id"], name="control_event_scope"),
                   models.Index(fields=["kind", "-id"], name="control_event_kind")]
        triggers = [append_only(), hash_chain(columns=(
            "kind", "scope", "actor", "via", "reason", "evidence", "before", "after", "at")), pgtrigger.Trigger(
            name="control_version_bump", when=pgtrigger.After, operation=pgtrigger.Insert,
            func="INSERT INTO autonomy_control_version AS v (id, version) VALUES (1, 1) "
                 "ON CONFLICT (id) DO UPDATE SET version = v.version + 1; RETURN NULL;")]

    def __str__(self) -> str:
        return f"{self.kind} {self.scope} by {self.actor}"


class ControlVersion(models.Model):
    """How many control events were ever written (one row; a trigger on the control events keeps it).

    Order admission reads the controls without a lock, decides, and inserts the order in one statement that
    holds this row ``FOR SHARE`` and admits only when the version it read is still current: a control change
    committed in between (every change writes a control event in its own transaction) sends the order through
    the locked admission instead. Never written by the application."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0)

    class Meta:
        db_table = "autonomy_control_version"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="control_version_singleton")]

    def __str__(self) -> str:
        return f"control version {self.version}"


class BudgetPolicy(models.Model):
    """A daily budget's limit and what a breach does (REDUCING or HALTED). A budget without a row uses
    the settings' default (``AUTONOMY_BUDGETS``). Changed only through ``budget_policy_set``."""

    name = models.CharField(max_length=32, choices=BudgetName.choices, unique=True)
    limit = models.DecimalField(**QTY)
    on_breach = models.CharField(max_length=16, choices=[(s, s) for s in BREACH_STATES],
                                 default=TradingStateChoice.HALTED)
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "autonomy_budget_policies"
        ordering = ["name"]
        verbose_name_plural = "budget policies"
        constraints = [
            models.CheckConstraint(condition=Q(name__in=BudgetName.values), name="budget_policy_name_valid"),
            models.CheckConstraint(condition=Q(limit__gte=0), name="budget_policy_limit_non_negative"),
            models.CheckConstraint(condition=Q(on_breach__in=list(BREACH_STATES)), name="budget_policy_breach_state"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <= {self.limit}"


class BudgetUsage(models.Model):
    """What one budget has used on one day (UTC). Order admission locks today's rows ``FOR UPDATE`` and
    consumes the order count and gross notional; fills add realized losses, the LLM reviews tokens.
    ``breached_at`` is when usage first passed the limit that day (kept: recovery is never automatic)."""

    name = models.CharField(max_length=32, choices=BudgetName.choices)
    day = models.DateField()
    used = models.DecimalField(**QTY, default=0)
    breached_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "autonomy_budget_usage"
        ordering = ["-day", "name"]
        constraints = [
            models.UniqueConstraint(fields=["name", "day"], name="budget_usage_one_per_day"),
            models.CheckConstraint(condition=Q(name__in=BudgetName.values), name="budget_usage_name_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.day}: {self.used}"


class ConditionEvaluation(models.Model):
    """One evaluation of a kill condition (a pure function), stored with its inputs and outcome.
    Append-only."""

    condition = models.CharField(max_length=64, help_text='e.g. "budget", "stale_signals", "lean_circuit"')
    scope = models.CharField(max_length=160, blank=True, default="")
    inputs = models.JSONField(default=dict, blank=True)
    outcome = models.JSONField(default=dict, blank=True)
    breached = models.BooleanField(default=False)
    action = models.CharField(max_length=64, blank=True, default="", help_text="What it changed, if anything.")
    actor = models.CharField(max_length=150, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "autonomy_condition_evaluations"
        ordering = ["-id"]
        indexes = [models.Index(fields=["condition", "-id"], name="condition_eval_recent")]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.condition} {self.scope}: {'breached' if self.breached else 'ok'}"


class Position(models.Model):
    """A strategy's position in one symbol, kept from its fills in the transaction that stores each fill.
    ``qty`` is signed (negative: short). The broker's figure and the drift are per symbol
    (:class:`SymbolDrift`, written by reconciliation); the selectors join them to each position."""

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="positions")
    symbol = models.CharField(max_length=32)
    qty = models.DecimalField(**QTY, default=0)
    avg_entry_price = models.DecimalField(**QTY, null=True, blank=True)
    realized_pnl = models.DecimalField(**QTY, default=0, help_text="Realized P&L since the position was opened.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "autonomy_positions"
        ordering = ["strategy_id", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "symbol"], name="position_one_per_strategy_symbol"),
            models.CheckConstraint(condition=Q(symbol=models.functions.Upper("symbol")), name="position_symbol_upper"),
            models.CheckConstraint(condition=Q(qty=0) | (Q(avg_entry_price__isnull=False) & Q(avg_entry_price__gt=0)),
                                   name="position_open_has_price"),
        ]

    def __str__(self) -> str:
        return f"{self.strategy_id} {self.symbol}: {self.qty}"


class SymbolDrift(models.Model):
    """The last reconciliation's figures for one symbol: the strategies' summed position, the broker's figure
    (Alpaca's position plus the LEAN-routed fills), the quantity of orders still in flight and the drift
    nobody has explained yet. One row per symbol compared; a reconciliation writes only the rows whose
    figures changed (one statement) and removes those of symbols no longer held anywhere. Positions read
    their symbol's row; when the figures were last compared is :class:`PositionReconciliation`'s ``at``."""

    symbol = models.CharField(max_length=32, unique=True)
    ours_qty = models.DecimalField(**QTY, help_text="The sum of the strategies' positions.")
    broker_qty = models.DecimalField(**QTY, help_text="The broker's figure for the symbol.")
    in_flight_qty = models.DecimalField(**QTY, default=0, help_text="Remaining qty of orders not settled yet.")
    drift = models.DecimalField(**QTY, default=0, help_text="Difference nobody has explained yet.")
    changed_at = models.DateTimeField(help_text="When a reconciliation last found these figures different.")

    class Meta:
        db_table = "autonomy_symbol_drift"
        ordering = ["symbol"]
        indexes = [models.Index(fields=["symbol"], condition=~Q(drift=0), name="symbol_drift_unexplained")]
        constraints = [
            models.CheckConstraint(condition=Q(symbol=models.functions.Upper("symbol")),
                                   name="symbol_drift_symbol_upper"),
            models.CheckConstraint(condition=Q(in_flight_qty__gte=0), name="symbol_drift_in_flight_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol}: broker {self.broker_qty}, drift {self.drift}"


class PositionReconciliation(models.Model):
    """The last comparison of positions with the broker (one row, id = 1): when, over how many symbols, how
    many had unexplained drift, and how many symbols' figures it rewrote."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    at = models.DateTimeField()
    symbols = models.PositiveIntegerField(default=0)
    unexplained = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0, help_text="Symbols whose figures changed (rows written).")
    actor = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        db_table = "autonomy_position_reconciliation"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="position_reconciliation_singleton")]

    def __str__(self) -> str:
        return f"positions reconciled at {self.at:%Y-%m-%d %H:%M:%S}: {self.symbols} symbols"


# --- readiness (Phase D) -----------------------------------------------------------------------

class ReadinessSnapshot(models.Model):
    """One evaluation of the readiness scorecard (:mod:`autonomy.readiness`), stored with the facts
    it read; ``green_since`` and the Phase D rule read the unbroken run of green snapshots."""

    at = models.DateTimeField(db_index=True)
    green = models.BooleanField()
    criteria = models.JSONField()
    facts = models.JSONField()
    window_start = models.DateTimeField()
    created_by = models.CharField(max_length=150)

    class Meta:
        db_table = "autonomy_readiness_snapshots"
        ordering = ["-at", "-id"]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"readiness at {self.at:%Y-%m-%d %H:%M}: {'green' if self.green else 'not green'}"


class AuditChainCheck(models.Model):
    """One verification of the hash chains (audit events, control events; ``manage.py verify_audit`` and
    the ``autonomy.verify_audit_chain`` schedule): when, how many rows, and the first break. ``chains`` holds
    each chain's rows checked and the head it reached (position and row_sha256): the next verification
    requires that row unchanged (a chain rewritten or cut from the end shows)."""

    at = models.DateTimeField(db_index=True, help_text="When the verification started.")
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    rows_checked = models.BigIntegerField()
    chains = models.JSONField(help_text='{table: {"rows", "head_position", "head_sha256", "ok"}}')
    first_break = models.JSONField(null=True, blank=True,
                                   help_text='{"table", "position", "id", "problem", "detail"}, or null.')
    created_by = models.CharField(max_length=150)

    class Meta:
        db_table = "autonomy_audit_chain_checks"
        ordering = ["-at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(ok=True, first_break__isnull=True)
                                              | Q(ok=False, first_break__isnull=False),
                                              name="audit_chain_check_break_iff_not_ok")]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"audit chain check at {self.at:%Y-%m-%d %H:%M}: {'ok' if self.ok else 'broken'}"
# === alerts worker: alerts and their delivery, incidents, heartbeats, sweep memory ================

class Alert(models.Model):
    """A condition someone should look at. One unresolved alert per ``dedup_key`` (a partial unique
    index): a repeated condition updates it (``last_seen_at``, ``occurrences``, the latest evidence)
    instead of opening another. ``open -> acknowledged -> resolved`` (or ``open -> resolved``) is held
    by a trigger; a resolved alert never changes again, and none is ever deleted."""

    dedup_key = models.CharField(max_length=200)
    severity = models.CharField(max_length=16, choices=AlertSeverity.choices)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    title = models.CharField(max_length=300)
    evidence = models.JSONField(default=dict, blank=True)
    raised_by = models.CharField(max_length=150)
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    occurrences = models.PositiveIntegerField(default=1, help_text="How many times the condition was raised.")
    acknowledged_by = models.CharField(max_length=150, blank=True, default="")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledge_comment = models.TextField(blank=True, default="")
    resolved_by = models.CharField(max_length=150, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolve_comment = models.TextField(blank=True, default="")

    class Meta:
        db_table = "autonomy_alerts"
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "severity"], name="alert_status_severity")]
        constraints = [
            models.UniqueConstraint(fields=["dedup_key"], condition=~Q(status=AlertStatus.RESOLVED),
                                    name="alert_one_unresolved_per_key"),
            models.CheckConstraint(condition=Q(severity__in=AlertSeverity.values), name="alert_severity_valid"),
            models.CheckConstraint(condition=Q(status__in=AlertStatus.values), name="alert_status_valid"),
            models.CheckConstraint(condition=Q(occurrences__gte=1), name="alert_occurrences_positive"),
            models.CheckConstraint(condition=~Q(dedup_key=""), name="alert_dedup_key_not_empty"),
            models.CheckConstraint(condition=Q(status=AlertStatus.OPEN) | Q(acknowledged_at__isnull=False)
                                   | Q(status=AlertStatus.RESOLVED), name="alert_acknowledged_has_time"),
            models.CheckConstraint(condition=~Q(status=AlertStatus.RESOLVED) | Q(resolved_at__isnull=False),
                                   name="alert_resolved_has_time"),
        ]
        triggers = [
            pgtrigger.FSM(name="alert_status_fsm", field="status", transitions=ALERT_TRANSITIONS),
            pgtrigger.Protect(name="alert_resolved_final", operation=pgtrigger.Update,
                              condition=pgtrigger.Q(old__status=AlertStatus.RESOLVED)),
            pgtrigger.Protect(name="alert_identity_fixed", operation=pgtrigger.Update,
                              condition=pgtrigger.AnyChange("dedup_key", "opened_at", "raised_by")),
            pgtrigger.Protect(name="alert_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}"


class AlertDelivery(models.Model):
    """One notification of one alert event on one channel, with the payload as it is sent. A worker
    claims due rows (``select_for_update(skip_locked=True)``); every try is an :class:`AlertDeliveryAttempt`.
    ``delivered`` is final (a trigger): what a receiver took is never sent again."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="deliveries")
    event = models.CharField(max_length=16, choices=AlertEvent.choices)
    channel = models.CharField(max_length=16, choices=DeliveryChannel.choices)
    target = models.CharField(max_length=1000, help_text="The webhook URL or the email recipients.")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True,
                                       help_text="A worker is sending it until then (a crashed one's lease expires).")
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "autonomy_alert_deliveries"
        ordering = ["-id"]
        indexes = [models.Index(fields=["next_attempt_at"], condition=Q(status=DeliveryStatus.PENDING),
                                name="alert_delivery_due")]
        constraints = [
            models.UniqueConstraint(fields=["alert", "event", "channel", "target"], condition=~Q(event="escalated"),
                                    name="alert_delivery_once_per_event"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="alert_delivery_status_valid"),
            models.CheckConstraint(condition=Q(channel__in=DeliveryChannel.values),
                                   name="alert_delivery_channel_valid"),
            models.CheckConstraint(condition=~Q(status=DeliveryStatus.DELIVERED) | Q(delivered_at__isnull=False),
                                   name="alert_delivery_delivered_has_time"),
        ]
        triggers = [
            pgtrigger.FSM(name="alert_delivery_status_fsm", field="status", transitions=DELIVERY_TRANSITIONS),
            pgtrigger.Protect(name="alert_delivery_delivered_final", operation=pgtrigger.Update,
                              condition=pgtrigger.Q(old__status=DeliveryStatus.DELIVERED)),
            pgtrigger.Protect(name="alert_delivery_payload_fixed", operation=pgtrigger.Update,
                              condition=pgtrigger.AnyChange("alert", "event", "channel", "target", "payload")),
            pgtrigger.Protect(name="alert_delivery_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.event} of alert {self.alert_id}: {self.status}"


class AlertDeliveryAttempt(models.Model):
    """One try of a delivery: written (``finished_at`` NULL) before the request leaves, completed with
    the answer. An attempt left unfinished is one whose worker died while sending. Once finished it
    never changes; none is deleted."""

    delivery = models.ForeignKey(AlertDelivery, on_delete=models.PROTECT, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=150, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status_code = models.IntegerField(null=True, blank=True, help_text="HTTP status (webhook), or NULL.")
    ok = models.BooleanField(null=True)
    error = models.TextField(blank=True, default="")
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "autonomy_alert_delivery_attempts"
        ordering = ["delivery_id", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="alert_attempt_number_unique")]
        triggers = [
            pgtrigger.Protect(name="alert_attempt_finished_final", operation=pgtrigger.Update,
                              condition=pgtrigger.Q(old__finished_at__isnull=False)),
            pgtrigger.Protect(name="alert_attempt_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        outcome = "unfinished" if self.finished_at is None else ("ok" if self.ok else self.error[:60])
        return f"attempt {self.number} of delivery {self.delivery_id}: {outcome}"


class Incident(models.Model):
    """A control breach worth a post-mortem (the LEAN circuit opening, ...): one open per ``kind``."""

    kind = models.CharField(max_length=64)
    severity = models.CharField(max_length=16, choices=AlertSeverity.choices, default=AlertSeverity.CRITICAL)
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    reason = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, null=True, blank=True, related_name="incidents")
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=150, blank=True, default="")
    close_reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = "autonomy_incidents"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind"], condition=Q(status=IncidentStatus.OPEN),
                                    name="incident_one_open_per_kind"),
            models.CheckConstraint(condition=Q(status__in=IncidentStatus.values), name="incident_status_valid"),
            models.CheckConstraint(condition=Q(severity__in=AlertSeverity.values), name="incident_severity_valid"),
            models.CheckConstraint(condition=~Q(status=IncidentStatus.CLOSED) | Q(closed_at__isnull=False),
                                   name="incident_closed_has_time"),
        ]
        triggers = [
            pgtrigger.FSM(name="incident_status_fsm", field="status",
                          transitions=[(IncidentStatus.OPEN, IncidentStatus.CLOSED)]),
            pgtrigger.Protect(name="incident_closed_final", operation=pgtrigger.Update,
                              condition=pgtrigger.Q(old__status=IncidentStatus.CLOSED)),
            pgtrigger.Protect(name="incident_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.status})"


class SignalSource(models.Model):
    """The latest heartbeat of one autonomy source (and symbol, "" for none)."""

    source = models.CharField(max_length=100)
    symbol = models.CharField(max_length=32, blank=True, default="")
    last_observed_at = models.DateTimeField()
    last_received_at = models.DateTimeField()
    last_status = models.CharField(max_length=16, choices=HeartbeatStatus.choices, default=HeartbeatStatus.OK)
    failure_streak = models.PositiveIntegerField(default=0, help_text="Failed cycles in a row.")
    beats = models.PositiveBigIntegerField(default=0)
    expected = models.BooleanField(default=True, db_default=True,
                                   help_text="The stale-signal rule judges this source. An operator retires a "
                                             "source that stopped for good; its next heartbeat brings it back.")

    class Meta:
        db_table = "autonomy_signal_sources"
        ordering = ["source", "symbol"]
        constraints = [models.UniqueConstraint(fields=["source", "symbol"], name="signal_source_unique"),
                       models.CheckConstraint(condition=Q(last_status__in=HeartbeatStatus.values),
                                              name="signal_source_status_valid")]

    def __str__(self) -> str:
        return f"{self.source}/{self.symbol}" if self.symbol else self.source


# A heartbeat is never changed, and is deleted only by retention once it is older than this floor.
HEARTBEAT_KEEP_AT_LEAST = "1 day"


class Heartbeat(models.Model):
    """Every heartbeat as received: the signal-quality rule of the playbook reads them. Never changed; pruned
    after ``HEARTBEAT_RETENTION_DAYS`` (:func:`autonomy.services.heartbeats_prune`), and the trigger refuses
    to delete one received within the last day."""

    source = models.CharField(max_length=100)
    symbol = models.CharField(max_length=32, blank=True, default="")
    observed_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=HeartbeatStatus.choices, default=HeartbeatStatus.OK)
    detail = models.CharField(max_length=500, blank=True, default="")
    actor = models.CharField(max_length=150)

    class Meta:
        db_table = "autonomy_heartbeats"
        ordering = ["-id"]
        indexes = [models.Index(fields=["received_at"], name="heartbeat_received_at")]
        constraints = [models.CheckConstraint(condition=Q(status__in=HeartbeatStatus.values),
                                              name="heartbeat_status_valid")]
        triggers = [
            pgtrigger.Protect(name="heartbeat_no_update", operation=pgtrigger.Update),
            pgtrigger.Protect(name="heartbeat_keep_recent", operation=pgtrigger.Delete,
                              condition=pgtrigger.Condition(
                                  f"OLD.received_at > now() - interval '{HEARTBEAT_KEEP_AT_LEAST}'")),
        ]

    def __str__(self) -> str:
        return f"{self.source}/{self.symbol or '-'} {self.status} at {self.observed_at:%Y-%m-%d %H:%M:%S}"


class FreshnessState(models.Model):
    """The staleness sweep's memory between cycles (one row, id = 1): the earlier cycles each source's
    no-signal streak is counted against, the longest streak at the last cycle, the clean cycles in a row."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_cycle_at = models.DateTimeField(null=True, blank=True)
    no_signal_streak = models.PositiveIntegerField(default=0, help_text="The longest of any source, last cycle.")
    clean_streak = models.PositiveIntegerField(default=0)
    recent_cycles = ArrayField(models.DateTimeField(), default=list, blank=True,
                               help_text="Earlier cycles of this in-session run (and the one before), oldest first.")

    class Meta:
        db_table = "autonomy_freshness_state"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="freshness_state_singleton")]

    def __str__(self) -> str:
        return f"freshness at {self.last_cycle_at}: no signal {self.no_signal_streak}, clean {self.clean_streak}"


class LeanRecovery(models.Model):
    """The LEAN circuit's memory (one row, id = 1): whether the lane was disabled by the circuit, and
    the clean health probes counted since."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    tripped = models.BooleanField(default=False)
    tripped_at = models.DateTimeField(null=True, blank=True)
    clean_probes = models.PositiveIntegerField(default=0)
    last_probe_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "autonomy_lean_recovery"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="lean_recovery_singleton")]

    def __str__(self) -> str:
        return f"LEAN recovery: {'watching' if self.tripped else 'idle'}, {self.clean_probes} clean probes"


class SweepCycle(models.Model):
    """One sweep's claim on one period (``cycle``: the number of its ``AUTONOMY_SWEEP_MINUTES`` period):
    a sweep delivered twice, or run by two clusters, evaluates its period once (a unique row, inserted
    with ON CONFLICT DO NOTHING). Append-only."""

    sweep = models.CharField(max_length=64)
    cycle = models.BigIntegerField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "autonomy_sweep_cycles"
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["sweep", "cycle"], name="sweep_cycle_once")]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.sweep} cycle {self.cycle}"


class PlaybookVersion(models.Model):
    """A recovery-playbook document (rules as data), stored once per version with its sha256; a version
    never changes and none is deleted (triggers). The newest :class:`PlaybookActivation` says which one
    the playbook sweep runs."""

    version = models.CharField(max_length=64, unique=True)
    sha256 = models.CharField(max_length=64)
    document = models.JSONField()
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "autonomy_playbook_versions"
        ordering = ["-id"]
        triggers = [append_only()]

    def __str__(self) -> str:
        return self.version


class PlaybookActivation(models.Model):
    """Which playbook version runs from now on, who chose it and why (append-only)."""

    playbook = models.ForeignKey(PlaybookVersion, on_delete=models.PROTECT, related_name="activations")
    previous = models.ForeignKey(PlaybookVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor = models.CharField(max_length=150)
    reason = models.TextField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "autonomy_playbook_activations"
        ordering = ["-id"]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.playbook_id} by {self.actor}"


# --- LLM governance ----------------------------------------------------------------------------
# Reviews (torghut's llm_decision_reviews), the rollout stage and its signed decisions, the model and
# prompt-version allowlists, and the LLM circuit with its evaluations. The decisions are pure
# functions in autonomy/llm_guardrails.py; autonomy/services.py stores them with their inputs.

LLM_QTY = {"max_digits": 24, "decimal_places": 8}  # the executions table's numeric(24, 8)
# Any step down; one step up at a time (the service adds the evidence rule for steps above stage1).
LLM_STAGE_TRANSITIONS = [(a, b) for a in LlmStage.values for b in LlmStage.values
                         if LLM_STAGE_RANK[b] < LLM_STAGE_RANK[a] or LLM_STAGE_RANK[b] == LLM_STAGE_RANK[a] + 1]


class LlmGovernance(models.Model):
    """The single LLM governance row (id = 1): the rollout stage, changed only by a signed decision."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    stage = models.CharField(max_length=8, choices=LlmStage.choices, default=LlmStage.STAGE0)
    shadow_since = models.DateTimeField(null=True, blank=True,
                                        help_text="Since when the stage has been stage1 or above (the shadow window "
                                                  "starts here).")
    reason = models.TextField(blank=True, default="")
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "llm_governance"
        verbose_name = "LLM governance"
        verbose_name_plural = "LLM governance"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="llm_governance_singleton"),
            models.CheckConstraint(condition=Q(stage__in=LlmStage.values), name="llm_stage_valid"),
            models.CheckConstraint(condition=Q(stage=LlmStage.STAGE0, shadow_since__isnull=True)
                                   | (~Q(stage=LlmStage.STAGE0) & Q(shadow_since__isnull=False)),
                                   name="llm_shadow_since_iff_on"),
        ]
        triggers = [pgtrigger.FSM(name="llm_stage_fsm", field="stage", transitions=LLM_STAGE_TRANSITIONS)]

    def __str__(self) -> str:
        return self.stage


class LlmAllowlistEntry(models.Model):
    """A model or prompt version advice may come from (above stage 1; anything else is forced to shadow)."""

    kind = models.CharField(max_length=16, choices=LlmAllowlistKind.choices)
    value = models.CharField(max_length=128)
    reason = models.TextField(blank=True, default="")
    added_by = models.CharField(max_length=150)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "llm_allowlist"
        ordering = ["kind", "value"]
        verbose_name_plural = "LLM allowlist entries"
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="llm_allowlist_unique"),
            models.CheckConstraint(condition=Q(kind__in=LlmAllowlistKind.values), name="llm_allowlist_kind_valid"),
            models.CheckConstraint(condition=~Q(value=""), name="llm_allowlist_value_nonblank"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"


class LlmDecisionReview(models.Model):
    """One LLM review of one order, with torghut's llm_decision_reviews fields, and what the plane
    made of it (the stage, the guardrails' reasons, the applied verdict). Append-only."""

    review_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client_order_id = models.CharField(max_length=128)
    execution_id = models.BigIntegerField(null=True, blank=True,
                                          help_text="The stored execution reviewed (none: reviewed before submission).")
    trade_decision_id = models.BigIntegerField(null=True, blank=True)
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="llm_reviews")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=8)
    order_qty = models.DecimalField(**LLM_QTY)
    order_type = models.CharField(max_length=16)
    order_limit_price = models.DecimalField(**LLM_QTY, null=True, blank=True)
    live = models.BooleanField(default=False, help_text="The strategy traded live: an error is always a veto.")
    model = models.CharField(max_length=128)
    prompt_version = models.CharField(max_length=64)
    input_json = models.JSONField(default=dict, blank=True, help_text="What the LLM was asked (as reported).")
    response_json = models.JSONField(help_text="The review as received.")
    verdict = models.CharField(max_length=8, choices=LlmVerdict.choices)
    confidence = models.FloatField(null=True, blank=True)
    adjusted_qty = models.DecimalField(**LLM_QTY, null=True, blank=True)
    adjusted_order_type = models.CharField(max_length=16, blank=True, default="")
    limit_price = models.DecimalField(**LLM_QTY, null=True, blank=True)
    rationale = models.TextField(blank=True, default="")
    risk_flags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    tokens_prompt = models.IntegerField(default=0)
    tokens_completion = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")
    stage = models.CharField(max_length=8, choices=LlmStage.choices)
    effective_mode = models.CharField(max_length=16, choices=LlmMode.choices)
    guarded_verdict = models.CharField(max_length=8, choices=LlmAppliedVerdict.choices,
                                       help_text="What the guardrails let stand (off and shadow pass the order).")
    applied_verdict = models.CharField(max_length=8, choices=LlmAppliedVerdict.choices)
    guardrail_reasons = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    applied_qty = models.DecimalField(**LLM_QTY, null=True, blank=True)
    applied_order_type = models.CharField(max_length=16, blank=True, default="")
    applied_limit_price = models.DecimalField(**LLM_QTY, null=True, blank=True)
    circuit_open = models.BooleanField(default=False)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "llm_decision_reviews"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["client_order_id", "-id"], name="llm_review_order_idx"),
            models.Index(fields=["created_at"], name="llm_review_at_idx"),
            models.Index(fields=["strategy", "created_at"], name="llm_review_strategy_at_idx"),
            models.Index(fields=["created_at"], condition=Q(verdict=LlmVerdict.ERROR), name="llm_review_error_at_idx"),
        ]
        constraints = [
            # One review decides an order; errors before it (retries) are kept beside it.
            models.UniqueConstraint(fields=["client_order_id"], condition=~Q(verdict=LlmVerdict.ERROR),
                                    name="llm_review_one_per_order"),
            models.CheckConstraint(condition=Q(verdict__in=LlmVerdict.values), name="llm_review_verdict_valid"),
            models.CheckConstraint(condition=Q(applied_verdict__in=LlmAppliedVerdict.values)
                                   & Q(guarded_verdict__in=LlmAppliedVerdict.values), name="llm_review_applied_valid"),
            models.CheckConstraint(condition=Q(stage__in=LlmStage.values) & Q(effective_mode__in=LlmMode.values),
                                   name="llm_review_stage_valid"),
            models.CheckConstraint(condition=Q(confidence__isnull=True) | Q(confidence__gte=0, confidence__lte=1),
                                   name="llm_review_confidence_0_1"),
            models.CheckConstraint(condition=(Q(verdict=LlmVerdict.ERROR) & ~Q(error=""))
                                   | (~Q(verdict=LlmVerdict.ERROR) & Q(error="") & Q(confidence__isnull=False)),
                                   name="llm_review_error_iff_no_verdict"),
            models.CheckConstraint(condition=Q(tokens_prompt__gte=0, tokens_completion__gte=0),
                                   name="llm_review_tokens_nonnegative"),
            models.CheckConstraint(condition=Q(order_qty__gt=0), name="llm_review_order_qty_positive"),
            models.CheckConstraint(
                condition=~Q(applied_verdict=LlmAppliedVerdict.ADJUST)
                | (Q(applied_qty__gt=0) & Q(applied_order_type__in=["market", "limit"])
                   & (~Q(applied_order_type="limit") | Q(applied_limit_price__gt=0))),
                name="llm_review_adjust_bounded_shape"),
            models.CheckConstraint(
                condition=~Q(applied_verdict=LlmAppliedVerdict.ADJUST)
                | Q(applied_qty__gte=F("order_qty") * Decimal("0.5"),
                    applied_qty__lte=F("order_qty") * Decimal("1.25")),
                name="llm_review_adjust_clamped"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.client_order_id}: {self.verdict} → {self.applied_verdict}"


class LlmCircuit(models.Model):
    """The LLM circuit (id = 1): open while ``open_until`` is in the future."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    open_until = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "llm_circuit"
        verbose_name = "LLM circuit"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="llm_circuit_singleton"),
            models.CheckConstraint(condition=Q(open_until__isnull=True) | Q(opened_at__lt=F("open_until")),
                                   name="llm_circuit_window"),
        ]

    def __str__(self) -> str:
        return f"open until {self.open_until}" if self.open_until else "closed"


class LlmCircuitEvaluation(models.Model):
    """One evaluation of the LLM circuit (one per review), with its inputs. Append-only."""

    review = models.OneToOneField(LlmDecisionReview, on_delete=models.PROTECT, related_name="circuit_evaluation")
    at = models.DateTimeField()
    errors_in_window = models.PositiveIntegerField()
    open_until_before = models.DateTimeField(null=True, blank=True)
    open_after = models.BooleanField()
    open_until_after = models.DateTimeField(null=True, blank=True)
    opened = models.BooleanField(default=False)

    class Meta:
        db_table = "llm_circuit_evaluations"
        ordering = ["-id"]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S}: {'open' if self.open_after else 'closed'}"


class LlmStageDecision(models.Model):
    """A signed, hash-chained change of the LLM stage, with the evidence it rested on. Append-only."""

    stage_before = models.CharField(max_length=8, choices=LlmStage.choices)
    stage_after = models.CharField(max_length=8, choices=LlmStage.choices)
    actor = models.CharField(max_length=150)
    actor_roles = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    via = models.CharField(max_length=16)
    reason = models.TextField()
    evidence = models.JSONField(default=dict)
    document = models.JSONField(help_text="What was signed: the change, its evidence, the chain.")
    decision_sha256 = models.CharField(max_length=64, unique=True)
    previous_sha256 = models.CharField(max_length=64, blank=True, default="")
    signature = models.TextField()
    key_id = models.CharField(max_length=40)
    at = models.DateTimeField()

    class Meta:
        db_table = "llm_stage_decisions"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(stage_before=F("stage_after")), name="llm_stage_decision_changes"),
            models.CheckConstraint(condition=~Q(reason=""), name="llm_stage_decision_reason"),
            models.CheckConstraint(condition=Q(decision_sha256__regex=r"^[0-9a-f]{64}$"),
                                   name="llm_stage_decision_sha256"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.stage_before} → {self.stage_after} by {self.actor}"


# --- The autonomous lane ---------------------------------------------------------------------------

class LaneState(models.Model):
    """The lane's one row: paused or not (and why), and where its bar feed stands (the dataset the last
    cycle took in, and how many synthetic sessions the feed has produced since its first period)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    paused = models.BooleanField(default=False)
    paused_reason = models.TextField(blank=True, default="")
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.CharField(max_length=150, blank=True, default="")
    paused_cycle = models.ForeignKey("LaneCycle", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.CharField(max_length=150, blank=True, default="")
    feed_dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                     help_text="The window the last cycle took in; the next one appends to it.")
    feed_origin = models.DateTimeField(null=True, blank=True, help_text="When the synthetic feed started.")
    feed_sessions = models.PositiveIntegerField(default=0, help_text="Synthetic sessions produced so far.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "autonomy_lane_state"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="lane_state_single_row"),
            models.CheckConstraint(condition=Q(paused=False) | ~Q(paused_reason=""), name="lane_pause_explained"),
        ]

    def __str__(self) -> str:
        return "lane paused" if self.paused else "lane running"


class LaneCycle(models.Model):
    """One cycle of the autonomous lane, torghut's AgentRun with its stages, failure class and retries.

    ``key`` names the work: ``period:<n>`` for the schedule's n-th ``LANE_CYCLE_MINUTES`` period (a task
    delivered twice, or run by two workers, finds it taken), ``command:<time>`` for a foreground run. A failed
    cycle waits for ``next_retry_at`` and runs again (``attempt`` + 1) until its failure class pauses the lane;
    a cycle left ``running`` by a killed worker is taken up by the next run."""

    key = models.CharField(max_length=64, unique=True)
    trigger = models.CharField(max_length=16, choices=LaneTrigger.choices)
    status = models.CharField(max_length=16, choices=LaneCycleStatus.choices, default=LaneCycleStatus.RUNNING)
    attempt = models.PositiveSmallIntegerField(default=1)
    failure_class = models.CharField(max_length=16, choices=FailureClass.choices, blank=True, default="")
    next_retry_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, default="", help_text="Why it was skipped, failed or paused the lane.")
    error = models.TextField(blank=True, default="")
    source = models.CharField(max_length=16, blank=True, default="", help_text="synthetic or alpaca")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    signals = models.PositiveIntegerField(default=0, help_text="New bars taken in.")
    runs = models.PositiveIntegerField(default=0)
    candidates = models.PositiveIntegerField(default=0)
    evaluations = models.PositiveIntegerField(default=0)
    passed = models.PositiveIntegerField(default=0)
    handoffs = models.PositiveIntegerField(default=0)
    rollbacks = models.PositiveIntegerField(default=0)
    strategies_halted = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=150, blank=True, default="", help_text="host:pid that ran it last")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "autonomy_lane_cycles"
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "-id"], name="lane_cycle_status_recent")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=LaneCycleStatus.values), name="lane_cycle_status_valid"),
            models.CheckConstraint(condition=Q(trigger__in=LaneTrigger.values), name="lane_cycle_trigger_valid"),
            models.CheckConstraint(condition=~Q(status__in=["failed", "paused"]) | ~Q(failure_class=""),
                                   name="lane_cycle_failure_classified"),
            models.CheckConstraint(condition=~Q(status="failed") | Q(next_retry_at__isnull=False),
                                   name="lane_cycle_retry_due"),
            models.CheckConstraint(condition=~Q(status__in=["skipped", "failed", "paused"]) | ~Q(reason=""),
                                   name="lane_cycle_reason_given"),
            models.CheckConstraint(condition=Q(attempt__gte=1), name="lane_cycle_attempt_positive"),
        ]
        triggers = [
            pgtrigger.FSM(name="lane_cycle_status_fsm", field="status", transitions=LANE_CYCLE_TRANSITIONS),
            pgtrigger.Protect(name="lane_cycle_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"lane cycle #{self.pk} {self.key} ({self.status})"


class LaneCycleStage(models.Model):
    """One stage of a lane cycle (torghut's orchestration stages), with what it did (``detail``)."""

    cycle = models.ForeignKey(LaneCycle, on_delete=models.PROTECT, related_name="stages")
    stage = models.CharField(max_length=32, choices=OrchestrationStage.choices)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=LaneStageStatus.choices, default=LaneStageStatus.RUNNING)
    attempt = models.PositiveSmallIntegerField(default=1)
    summary = models.CharField(max_length=500, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "autonomy_lane_cycle_stages"
        ordering = ["cycle_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "stage"], name="lane_stage_once_per_cycle"),
            models.CheckConstraint(condition=Q(status__in=LaneStageStatus.values), name="lane_stage_status_valid"),
        ]
        triggers = [pgtrigger.Protect(name="lane_stage_no_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.stage} ({self.status})"
