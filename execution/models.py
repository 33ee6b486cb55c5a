"""Execution provenance: trade decisions, executions with their real route, fills,
adapter health, LEAN outages (the persisted circuit breaker) and reconciliation runs.

Tables mirror torghut's ``trade_decisions`` and ``executions``. The invariants live in
PostgreSQL (named CHECK/UNIQUE constraints and append-only triggers):

* both adapter columns are NOT NULL on every non-legacy row (``exec_route_not_null_unless_legacy``);
  rows imported from torghut (``legacy = true``) may carry NULL until ``backfill_routes`` fills them;
* ``unknown`` is allowed only on legacy rows;
* a fallback count above 0 requires a reason; expected <> actual implies a count of at least 1.
"""
from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from core.db import append_only
from execution.choices import (
    Adapter,
    DiscrepancyKind,
    ExecutionStatus,
    HealthEventKind,
    OrderType,
    Side,
    TimeInForce,
)
from strategies.models import Strategy

QTY = {"max_digits": 24, "decimal_places": 8}
KNOWN = [Adapter.LEAN, Adapter.ALPACA]


class TradeDecision(models.Model):
    """A strategy's decision to trade; ``decision_hash`` is sent as the broker's client_order_id."""

    decision_hash = models.CharField(max_length=128, unique=True)
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="trade_decisions")
    account_label = models.CharField(max_length=64, blank=True, default="")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=Side.choices)
    qty = models.DecimalField(**QTY)
    decision_price = models.DecimalField(**QTY, null=True, blank=True,
                                         help_text="Reference price when decided; slippage is measured against it.")
    decision_json = models.JSONField(default=dict, blank=True)
    rationale = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, default="submitted")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "trade_decisions"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.decision_hash


class Execution(models.Model):
    trade_decision = models.ForeignKey(TradeDecision, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="executions")
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, null=True, blank=True, related_name="executions")
    client_order_id = models.CharField(max_length=128, unique=True)
    broker_order_id = models.CharField(max_length=128, unique=True, null=True, blank=True,
                                       help_text="torghut's alpaca_order_id; the id at whichever broker took it.")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=Side.choices)
    order_type = models.CharField(max_length=16, choices=OrderType.choices, default=OrderType.MARKET)
    time_in_force = models.CharField(max_length=8, choices=TimeInForce.choices, default=TimeInForce.DAY)
    limit_price = models.DecimalField(**QTY, null=True, blank=True)
    submitted_qty = models.DecimalField(**QTY)
    filled_qty = models.DecimalField(**QTY, default=Decimal(0))
    avg_fill_price = models.DecimalField(**QTY, null=True, blank=True)
    status = models.CharField(max_length=24, default=ExecutionStatus.PENDING_SUBMIT)
    raw_order = models.JSONField(default=dict, blank=True)
    execution_expected_adapter = models.CharField(max_length=16, choices=Adapter.choices, null=True, blank=True)
    execution_actual_adapter = models.CharField(max_length=16, choices=Adapter.choices, null=True, blank=True)
    execution_fallback_reason = models.CharField(max_length=200, blank=True, default="")
    execution_fallback_count = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="", help_text="Why the last broker attempt failed, if it did.")
    correlation_id = models.CharField(max_length=64, blank=True, default="")
    idempotency_key = models.CharField(max_length=128, blank=True, default="")
    legacy = models.BooleanField(default=False, help_text="Imported from torghut's history; may predate route columns.")
    strategy_stage = models.CharField(max_length=16, blank=True, default="", db_default="",
                                      help_text="The strategy's stage when the order was admitted.")
    submitted_by = models.CharField(max_length=150, blank=True, default="")
    reconcile_lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_update_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "executions"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["symbol", "-id"], name="exec_symbol_recent"),
            models.Index(fields=["execution_actual_adapter", "-id"], name="exec_adapter_recent"),
            models.Index(fields=["symbol", "execution_actual_adapter", "-id"], name="exec_symbol_adapter_recent"),
            models.Index(fields=["status", "-id"], name="exec_status_recent"),
            models.Index(fields=["symbol", "-id"], name="exec_symbol_fallback_recent",
                         condition=Q(execution_fallback_count__gt=0)),
            models.Index(fields=["-id"], name="exec_fallback_recent", condition=Q(execution_fallback_count__gt=0)),
            models.Index(fields=["created_at"], name="exec_created_at",
                         include=["execution_fallback_count", "execution_fallback_reason"]),
            models.Index(fields=["id"], name="exec_open_by_id",
                         condition=Q(status__in=["pending_submit", "pending", "accepted", "partially_filled"])),
            models.Index(fields=["id"], name="exec_legacy_unrouted",
                         condition=Q(legacy=True) & (Q(execution_expected_adapter__isnull=True)
                                                     | Q(execution_actual_adapter__isnull=True))),
        ]
        constraints = [
            models.CheckConstraint(
                name="exec_route_not_null_unless_legacy",
                condition=Q(legacy=True) | (Q(execution_expected_adapter__isnull=False)
                                            & Q(execution_actual_adapter__isnull=False))),
            models.CheckConstraint(
                name="exec_adapter_values",
                condition=(Q(execution_expected_adapter__in=Adapter.values)
                           | Q(execution_expected_adapter__isnull=True))
                & (Q(execution_actual_adapter__in=Adapter.values) | Q(execution_actual_adapter__isnull=True))),
            models.CheckConstraint(
                name="exec_unknown_only_legacy",
                condition=Q(legacy=True) | (Q(execution_expected_adapter__in=KNOWN)
                                            & Q(execution_actual_adapter__in=KNOWN))),
            models.CheckConstraint(
                name="exec_fallback_reason_required",
                condition=Q(execution_fallback_count=0) | ~Q(execution_fallback_reason="")),
            models.CheckConstraint(
                name="exec_mismatch_implies_fallback",
                condition=Q(execution_expected_adapter=F("execution_actual_adapter"))
                | Q(execution_fallback_count__gte=1)
                | Q(execution_expected_adapter=Adapter.UNKNOWN) | Q(execution_actual_adapter=Adapter.UNKNOWN)
                | Q(execution_expected_adapter__isnull=True) | Q(execution_actual_adapter__isnull=True)),
            models.CheckConstraint(name="exec_submitted_qty_positive", condition=Q(submitted_qty__gt=0)),
            models.CheckConstraint(name="exec_filled_qty_range",
                                   condition=Q(filled_qty__gte=0) & Q(filled_qty__lte=F("submitted_qty"))),
            models.CheckConstraint(name="exec_limit_needs_price",
                                   condition=~Q(order_type=OrderType.LIMIT) | Q(limit_price__gt=0) | Q(legacy=True)),
        ]

    def __str__(self) -> str:
        return self.client_order_id

    def get_absolute_url(self) -> str:
        return reverse("execution-detail", args=[self.pk])


class Fill(models.Model):
    """One fill as a broker reported it; unique per (adapter, broker fill id), never changed."""

    execution = models.ForeignKey(Execution, on_delete=models.PROTECT, related_name="fills")
    adapter = models.CharField(max_length=16, choices=Adapter.choices)
    broker_fill_id = models.CharField(max_length=200)
    qty = models.DecimalField(**QTY)
    price = models.DecimalField(**QTY)
    filled_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "execution_fills"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["adapter", "broker_fill_id"], name="fill_unique_per_adapter"),
            models.CheckConstraint(condition=Q(qty__gt=0) & Q(price__gt=0), name="fill_positive"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.adapter}:{self.broker_fill_id}"


class AdapterHealthEvent(models.Model):
    """Probe results and request failures of a broker adapter (append-only)."""

    adapter = models.CharField(max_length=16, choices=Adapter.choices)
    kind = models.CharField(max_length=16, choices=HealthEventKind.choices)
    ok = models.BooleanField()
    reason = models.CharField(max_length=200, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    latency_ms = models.FloatField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "execution_adapter_health_events"
        ordering = ["-id"]
        indexes = [models.Index(fields=["adapter", "-at"], name="health_adapter_recent")]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.adapter} {self.kind} {'ok' if self.ok else self.reason}"


class LeanCircuit(models.Model):
    """The persisted circuit-breaker counters of the LEAN lane (one row, shared by every worker).

    The breaker is open exactly when a :class:`LeanOutage` with ``ended_at IS NULL`` exists.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_failure_reason = models.CharField(max_length=200, blank=True, default="")
    last_failure_at = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "execution_lean_circuit"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="lean_circuit_singleton")]

    def __str__(self) -> str:
        return f"LEAN circuit ({self.consecutive_failures} consecutive failures)"


class LeanOutage(models.Model):
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200)
    failures = models.PositiveIntegerField(default=0)
    closed_reason = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "execution_lean_outages"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(models.Value(1), condition=Q(ended_at__isnull=True), name="lean_outage_one_open"),
            models.CheckConstraint(condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                                   name="lean_outage_window"),
        ]

    def __str__(self) -> str:
        return f"LEAN outage {self.started_at:%Y-%m-%d %H:%M} ({self.reason})"

    def get_absolute_url(self) -> str:
        return reverse("execution-outage", args=[self.pk])


class ReconciliationRun(models.Model):
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=32, default="schedule")
    checked = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    discrepancy_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    interrupted = models.BooleanField(default=False, help_text="Its process stopped before the run finished; a "
                                                               "later run closed it with what it had recorded.")

    class Meta:
        db_table = "execution_reconciliation_runs"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Reconciliation {self.started_at:%Y-%m-%d %H:%M:%S}"


class ReconciliationDiscrepancy(models.Model):
    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="discrepancies")
    execution = models.ForeignKey(Execution, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="discrepancies")
    kind = models.CharField(max_length=32, choices=DiscrepancyKind.choices)
    adapter = models.CharField(max_length=16, choices=Adapter.choices, blank=True, default="")
    client_order_id = models.CharField(max_length=128, blank=True, default="")
    broker_order_id = models.CharField(max_length=128, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "execution_reconciliation_discrepancies"
        ordering = ["-id"]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.kind} {self.client_order_id}"


class OrderRefusal(models.Model):
    """Audit record of an order refused by a control flag (the refused request writes nothing else)."""

    client_order_id = models.CharField(max_length=128)
    strategy_name = models.CharField(max_length=100, blank=True, default="")
    symbol = models.CharField(max_length=32)
    code = models.CharField(max_length=64)
    message = models.TextField()
    actor = models.CharField(max_length=150, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "execution_order_refusals"
        ordering = ["-id"]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.code} {self.client_order_id}"


class ExecutionRouteHourly(models.Model):
    """Hourly route counts of non-legacy executions, kept by a PostgreSQL trigger on ``executions``.

    Written only by the trigger (migration 0002), in the same transaction as the execution row,
    so it always equals ``GROUP BY date_bin('1 hour', created_at), expected, actual, reason`` over
    ``executions WHERE NOT legacy AND status <> 'pending_submit'`` (an order counts once routed,
    with its final route: migration 0005). Route stats, dashboards and /metrics read it instead of
    scanning millions of executions. (TRUNCATE bypasses row triggers: truncate both together.)
    """

    bucket = models.DateTimeField()
    expected_adapter = models.CharField(max_length=16)
    actual_adapter = models.CharField(max_length=16)
    reason = models.CharField(max_length=200)
    requests = models.BigIntegerField(default=0)
    fallbacks = models.BigIntegerField(default=0)

    class Meta:
        db_table = "execution_route_hourly"
        ordering = ["bucket"]
        constraints = [
            models.UniqueConstraint(fields=["bucket", "expected_adapter", "actual_adapter", "reason"],
                                    name="route_hourly_key"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:00} {self.expected_adapter}->{self.actual_adapter} {self.reason}"


class BackfillCheckpoint(models.Model):
    """Where a resumable backfill stopped (last id done), by name."""

    name = models.CharField(max_length=64, unique=True)
    last_id = models.BigIntegerField(default=0)
    upper_id = models.BigIntegerField(default=0)
    updated = models.BigIntegerField(default=0)
    unknown = models.BigIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "execution_backfill_checkpoints"

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_id}"
