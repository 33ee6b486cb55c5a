from django.contrib import admin

from core.admin import ReadOnlyAdmin
from strategies.models import Strategy


@admin.register(Strategy)
class StrategyAdmin(ReadOnlyAdmin):
    """Strategies are registered by research runs; the admin only shows them."""

    list_display = ["name", "created_at"]
    search_fields = ["name"]
