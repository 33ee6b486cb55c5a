from django.contrib import admin

from core.admin import ReadOnlyAdmin
from execution.models import (
    AdapterHealthEvent,
    BackfillCheckpoint,
    Execution,
    ExecutionRouteHourly,
    Fill,
    LeanCircuit,
    LeanOutage,
    OrderRefusal,
    ReconciliationDiscrepancy,
    ReconciliationRun,
    TradeDecision,
)


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    list_display = ["id", "client_order_id", "symbol", "side", "status", "execution_expected_adapter",
                    "execution_actual_adapter", "execution_fallback_reason", "execution_fallback_count", "created_at"]
    list_filter = ["status", "execution_actual_adapter", "legacy"]
    search_fields = ["client_order_id", "broker_order_id", "symbol"]
    show_full_result_count = False


@admin.register(TradeDecision)
class TradeDecisionAdmin(ReadOnlyAdmin):
    list_display = ["id", "decision_hash", "strategy", "symbol", "side", "qty", "decision_price", "created_at"]
    search_fields = ["decision_hash", "symbol"]
    show_full_result_count = False


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ["id", "execution", "adapter", "broker_fill_id", "qty", "price", "filled_at"]
    show_full_result_count = False


@admin.register(AdapterHealthEvent)
class AdapterHealthEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "adapter", "kind", "ok", "reason", "latency_ms", "at"]
    list_filter = ["adapter", "kind", "ok"]


@admin.register(LeanOutage)
class LeanOutageAdmin(ReadOnlyAdmin):
    list_display = ["id", "started_at", "ended_at", "reason", "failures", "closed_reason"]


@admin.register(LeanCircuit)
class LeanCircuitAdmin(ReadOnlyAdmin):
    list_display = ["id", "consecutive_failures", "last_failure_reason", "last_failure_at", "next_probe_at"]


class DiscrepancyInline(admin.TabularInline):
    model = ReconciliationDiscrepancy
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "adapter", "client_order_id", "broker_order_id", "details", "at"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "started_at", "finished_at", "trigger", "checked", "updated", "discrepancy_count"]
    inlines = [DiscrepancyInline]


@admin.register(OrderRefusal)
class OrderRefusalAdmin(ReadOnlyAdmin):
    list_display = ["id", "client_order_id", "symbol", "code", "actor", "at"]


@admin.register(BackfillCheckpoint)
class BackfillCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_id", "upper_id", "updated", "unknown", "finished_at", "updated_at"]


@admin.register(ExecutionRouteHourly)
class ExecutionRouteHourlyAdmin(ReadOnlyAdmin):
    list_display = ["bucket", "expected_adapter", "actual_adapter", "reason", "requests", "fallbacks"]
    list_filter = ["actual_adapter"]
