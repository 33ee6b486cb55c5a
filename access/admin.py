"""Admin: the audit trail read-only, tokens listable and revocable (never shown), login throttled."""
from django.contrib import admin
from knox.models import AuthToken

from access.forms import ThrottledAdminAuthenticationForm
from access.models import AuditEvent, StrategyGroupObjectPermission, StrategyUserObjectPermission
from core.admin import ReadOnlyAdmin
from core.chain import CHAIN_FIELDS

admin.site.login_form = ThrottledAdminAuthenticationForm


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "via", "method", "path", "action", "outcome", "status_code", "request_id")
    list_filter = ("via", "outcome", "method")
    search_fields = ("actor", "path", "action", "request_id", "object_ref")
    date_hierarchy = "at"
    show_full_result_count = False
    readonly_fields = CHAIN_FIELDS  # set by the database's chain trigger (core.chain); shown, never edited


if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class TokenAdmin(admin.ModelAdmin):
    """Tokens are issued with `create_principal` (shown once); here they are listed and revoked."""

    list_display = ("user", "token_key", "created", "expiry", "last_used")
    list_select_related = ("user", "usage")
    search_fields = ("user__username", "token_key")
    readonly_fields = ("user", "token_key", "created", "expiry", "last_used")
    exclude = ("digest",)
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="last used")
    def last_used(self, obj):
        usage = getattr(obj, "usage", None)
        return usage.last_used_at if usage else None

    @admin.action(description="Revoke selected tokens", permissions=["delete"])
    def revoke(self, request, queryset):
        from access.services import token_revoke

        count = 0
        for username, key in queryset.values_list("user__username", "token_key"):
            count += token_revoke(username=username, token_key=key, actor=request.user.get_username(), via="admin")
        self.message_user(request, f"Revoked {count} token(s).")


@admin.register(StrategyUserObjectPermission)
class StrategyUserPermAdmin(admin.ModelAdmin):
    list_display = ("content_object", "user", "permission")
    list_select_related = ("content_object", "user", "permission")
    raw_id_fields = ("user",)


@admin.register(StrategyGroupObjectPermission)
class StrategyGroupPermAdmin(admin.ModelAdmin):
    list_display = ("content_object", "group", "permission")
    list_select_related = ("content_object", "group", "permission")
