from django.contrib import admin

from autonomy.models import SymbolControl, TradingState


@admin.register(TradingState)
class TradingStateAdmin(admin.ModelAdmin):
    list_display = ["state", "reason", "lean_enabled", "lean_disabled_reason", "updated_by", "updated_at"]


@admin.register(SymbolControl)
class SymbolControlAdmin(admin.ModelAdmin):
    list_display = ["symbol", "mode", "reason", "updated_by", "updated_at"]
    search_fields = ["symbol"]
