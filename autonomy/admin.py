from django.contrib import admin, messages
from django.template.response import TemplateResponse

from access.choices import Via
from autonomy import services
from autonomy.models import (
    Alert,
    AlertDelivery,
    AlertDeliveryAttempt,
    ConditionEvaluation,
    Heartbeat,
    Incident,
    SignalSource,
    SymbolControl,
    TradingState,
)
from core.admin import ReadOnlyAdmin
from core.errors import ApplicationError


@admin.register(TradingState)
class TradingStateAdmin(admin.ModelAdmin):
    list_display = ["state", "reason", "lean_enabled", "lean_disabled_reason", "updated_by", "updated_at"]


@admin.register(SymbolControl)
class SymbolControlAdmin(admin.ModelAdmin):
    list_display = ["symbol", "mode", "reason", "updated_by", "updated_at"]
    search_fields = ["symbol"]


# =============================================================================================
# Alerts, deliveries, incidents, heartbeats and condition evaluations (alerts worker)
# =============================================================================================

def _confirmed_action(modeladmin, request, queryset, *, action: str, title: str, verb: str, explanation: str,
                      run, ask_comment: bool = True):
    """Show a confirmation page first; on "yes", call ``run(obj, comment)`` (a service) for each row."""
    objects = list(queryset)
    if request.POST.get("confirm") != "yes":
        return TemplateResponse(request, "admin/autonomy/confirm_action.html", {
            **modeladmin.admin_site.each_context(request), "title": title, "verb": verb, "explanation": explanation,
            "objects": objects, "action": action, "ask_comment": ask_comment, "opts": modeladmin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME})
    comment = request.POST.get("comment", "")[:2000]
    for obj in objects:
        try:
            run(obj, comment)
        except ApplicationError as exc:
            modeladmin.message_user(request, f"#{obj.pk}: {exc.message}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"#{obj.pk}: done.", messages.SUCCESS)
    return None


class AttemptInline(admin.TabularInline):
    model = AlertDeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "worker", "started_at", "finished_at", "status_code", "ok", "error", "duration_ms"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = ["event", "channel", "status", "attempts", "next_attempt_at", "delivered_at", "last_error"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["id", "severity", "status", "title", "dedup_key", "occurrences", "opened_at", "last_seen_at",
                    "acknowledged_by", "resolved_by"]
    list_filter = ["status", "severity"]
    search_fields = ["dedup_key", "title"]
    inlines = [DeliveryInline]
    actions = ["acknowledge_selected", "resolve_selected"]

    @admin.action(description="Acknowledge the selected alerts…")
    def acknowledge_selected(self, request, queryset):
        return _confirmed_action(
            self, request, queryset, action="acknowledge_selected", title="Acknowledge alerts", verb="acknowledge",
            explanation="Acknowledging says someone is on it; the alerts stay unresolved.",
            run=lambda a, c: services.alert_acknowledge(alert_id=a.pk, actor=request.user.get_username(), comment=c,
                                                        via=Via.ADMIN))

    @admin.action(description="Resolve the selected alerts…")
    def resolve_selected(self, request, queryset):
        return _confirmed_action(
            self, request, queryset, action="resolve_selected", title="Resolve alerts", verb="resolve",
            explanation="A resolved alert is final; the condition raising it again opens a new alert.",
            run=lambda a, c: services.alert_resolve(alert_id=a.pk, actor=request.user.get_username(), comment=c,
                                                    via=Via.ADMIN))


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "alert", "event", "channel", "status", "attempts", "next_attempt_at", "delivered_at",
                    "last_error"]
    list_filter = ["status", "channel", "event"]
    inlines = [AttemptInline]
    actions = ["requeue_selected"]

    @admin.action(description="Send the selected failed deliveries again…")
    def requeue_selected(self, request, queryset):
        return _confirmed_action(
            self, request, queryset, action="requeue_selected", title="Send failed deliveries again", verb="requeue",
            explanation="Their attempts start over, with the same payload and delivery id.", ask_comment=False,
            run=lambda d, c: services.alert_delivery_requeue(delivery_id=d.pk, actor=request.user.get_username()))


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "severity", "status", "reason", "opened_at", "closed_at", "closed_by"]
    list_filter = ["status", "kind"]


@admin.register(ConditionEvaluation)
class ConditionEvaluationAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "scope", "at", "tripped", "action", "actor"]
    list_filter = ["kind", "tripped", "action"]


@admin.register(SignalSource)
class SignalSourceAdmin(ReadOnlyAdmin):
    list_display = ["source", "symbol", "last_observed_at", "last_received_at", "last_status", "failure_streak",
                    "beats"]
    search_fields = ["source", "symbol"]


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["id", "source", "symbol", "observed_at", "received_at", "status", "detail", "actor"]
    list_filter = ["status"]
    search_fields = ["source", "symbol"]
