from django.contrib import admin

from autonomy.models import ReadinessSnapshot, SymbolControl, TradingState
from core.admin import ReadOnlyAdmin


@admin.register(TradingState)
class TradingStateAdmin(admin.ModelAdmin):
    list_display = ["state", "reason", "lean_enabled", "lean_disabled_reason", "updated_by", "updated_at"]


@admin.register(SymbolControl)
class SymbolControlAdmin(admin.ModelAdmin):
    list_display = ["symbol", "mode", "reason", "updated_by", "updated_at"]
    search_fields = ["symbol"]


@admin.register(ReadinessSnapshot)
class ReadinessSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["at", "green", "window_start", "created_by"]
    list_filter = ["green"]
