from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

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


def _page_link(url: str, text: str = "page"):
    return format_html('<a href="{}">{}</a>', url, text)


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    list_display = ["id", "page", "client_order_id", "symbol", "side", "status", "execution_expected_adapter",
                    "execution_actual_adapter", "execution_fallback_reason", "execution_fallback_count", "created_at"]
    list_filter = ["status", "execution_actual_adapter", "legacy"]
    search_fields = ["client_order_id", "broker_order_id", "symbol"]
    show_full_result_count = False

    @admin.display(description="order page")
    def page(self, obj):
        return _page_link(obj.get_absolute_url())


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
    list_display = ["id", "page", "started_at", "ended_at", "reason", "failures", "closed_reason"]

    @admin.display(description="orders affected")
    def page(self, obj):
        return _page_link(obj.get_absolute_url(), "outage page")


@admin.register(LeanCircuit)
class LeanCircuitAdmin(ReadOnlyAdmin):
    list_display = ["id", "consecutive_failures", "last_failure_reason", "last_failure_at", "next_probe_at"]


class DiscrepancyInline(admin.TabularInline):
    model = ReconciliationDiscrepancy
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "adapter", "order", "broker_order_id", "details", "at"]
    fields = readonly_fields

    @admin.display(description="client order id")
    def order(self, obj):
        if obj.execution_id is None:
            return obj.client_order_id
        return _page_link(reverse("execution-detail", args=[obj.execution_id]), obj.client_order_id)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "page", "started_at", "finished_at", "trigger", "checked", "updated", "discrepancy_count"]
    inlines = [DiscrepancyInline]

    @admin.display(description="run page")
    def page(self, obj):
        return _page_link(reverse("execution-reconciliation-run", args=[obj.pk]))


@admin.register(OrderRefusal)
class OrderRefusalAdmin(ReadOnlyAdmin):
    list_display = ["id", "client_order_id", "symbol", "code", "actor", "at"]
    list_filter = ["code"]
    search_fields = ["client_order_id", "strategy_name", "symbol"]


@admin.register(BackfillCheckpoint)
class BackfillCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_id", "upper_id", "updated", "unknown", "finished_at", "updated_at"]


@admin.register(ExecutionRouteHourly)
class ExecutionRouteHourlyAdmin(ReadOnlyAdmin):
    list_display = ["bucket", "expected_adapter", "actual_adapter", "reason", "requests", "fallbacks"]
    list_filter = ["actual_adapter"]
