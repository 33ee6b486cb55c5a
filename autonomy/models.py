"""Persisted control flags that gate order flow: the trading state (global and per strategy), per-symbol
modes with canary caps, the LEAN lane, daily budgets, positions kept from fills, and the append-only
control events that record every change.

Execution reads these through :mod:`autonomy.selectors` inside its admission transaction; every write
goes through :mod:`autonomy.services`. The global row (``autonomy_trading_state``, id 1) is also the
control mutex: every control change locks it ``FOR UPDATE`` and every order admission ``FOR SHARE``.
"""
from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from access.choices import Via
from autonomy.choices import (
    BREACH_STATES,
    BudgetName,
    ControlKind,
    StateCause,
    SymbolMode,
    TradingStateChoice,
)
from core.db import append_only
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


class ControlEvent(models.Model):
    """One change of control state, with who, why, the evidence and the values before and after.
    Append-only (a trigger refuses UPDATE and DELETE); written in the transaction that makes the change."""

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
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.kind} {self.scope} by {self.actor}"


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
    ``qty`` is signed (negative: short). ``broker_qty`` and ``drift`` are written by reconciliation."""

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="positions")
    symbol = models.CharField(max_length=32)
    qty = models.DecimalField(**QTY, default=0)
    avg_entry_price = models.DecimalField(**QTY, null=True, blank=True)
    realized_pnl = models.DecimalField(**QTY, default=0, help_text="Realized P&L since the position was opened.")
    broker_qty = models.DecimalField(**QTY, null=True, blank=True,
                                     help_text="The broker's figure for the symbol at the last reconciliation.")
    drift = models.DecimalField(**QTY, default=0, help_text="Difference nobody has explained yet.")
    reconciled_at = models.DateTimeField(null=True, blank=True)
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
