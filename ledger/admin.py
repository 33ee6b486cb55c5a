"""Read-only admin for the research ledger: evidence is inspected here, never edited."""
from django.contrib import admin

from core.admin import ReadOnlyAdmin
from ledger.models import (
    CandidateLifecycleEvent,
    Dataset,
    FeatureSnapshot,
    FoldMetric,
    ResearchCandidate,
    ResearchRun,
    RunSummary,
    StressMetric,
)


class FoldInline(admin.TabularInline):
    model = FoldMetric
    extra = 0
    can_delete = False
    fields = ["fold_order", "fold_name", "test_start", "test_end", "trade_count", "net_pnl", "max_drawdown", "sharpe"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class StressInline(admin.TabularInline):
    model = StressMetric
    extra = 0
    can_delete = False
    readonly_fields = fields = ["stress_case", "net_pnl", "max_drawdown", "pessimistic_pnl_delta"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ResearchRun)
class ResearchRunAdmin(ReadOnlyAdmin):
    list_display = ["run_id", "strategy_name", "strategy_version", "status", "dataset_version", "created_at"]
    list_filter = ["status", "strategy_name"]
    search_fields = ["run_id", "artifact_sha256", "code_commit"]
    date_hierarchy = "created_at"
    list_select_related = ["dataset"]
    show_full_result_count = False


@admin.register(ResearchCandidate)
class ResearchCandidateAdmin(ReadOnlyAdmin):
    list_display = ["candidate_id", "run", "decision_count", "trade_count"]
    search_fields = ["candidate_id", "run__run_id"]
    list_select_related = ["run"]
    inlines = [FoldInline, StressInline]
    show_full_result_count = False


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ["version", "fingerprint", "source", "bar_count", "first_ts", "last_ts"]
    list_filter = ["source"]
    search_fields = ["version", "fingerprint"]


@admin.register(FeatureSnapshot)
class FeatureSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["snapshot_fingerprint", "schema_version", "staleness_ms_p95", "created_at"]


@admin.register(CandidateLifecycleEvent)
class CandidateLifecycleEventAdmin(ReadOnlyAdmin):
    list_display = ["candidate", "role", "actor", "at"]
    list_filter = ["role"]




@admin.register(RunSummary)
class RunSummaryAdmin(ReadOnlyAdmin):
    """Derived figures of each run's best candidate (``manage.py summarise_runs`` recomputes them)."""

    list_display = ["run", "best_candidate", "net_pnl", "sharpe", "deflated_sharpe", "max_drawdown", "pbo",
                    "selection_policy", "computed_at"]
    search_fields = ["run__run_id", "best_candidate__candidate_id"]
    list_select_related = ["run", "best_candidate"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("run__artifact")
