"""Admin building blocks shared by every app."""
from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that are evidence (append-only tables): viewable, never added, edited or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
