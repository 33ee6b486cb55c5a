from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from access.choices import Via
from access.selectors import user_roles
from autonomy import selectors as llm_selectors
from autonomy import services as llm_services
from autonomy.choices import LlmStage
from autonomy.models import (
    LlmAllowlistEntry,
    LlmCircuit,
    LlmCircuitEvaluation,
    LlmDecisionReview,
    LlmGovernance,
    LlmStageDecision,
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


# --- LLM governance ----------------------------------------------------------------------------
# Reviews, circuit evaluations and stage decisions are evidence (read-only). The stage and the
# allowlists change only through the services, behind a confirmation page asking for a reason.

def _llm_confirm(modeladmin, request, *, title: str, action: str, selected, fields: list[dict], problems=()):
    return TemplateResponse(request, "admin/autonomy/llm_confirm.html", {
        **modeladmin.admin_site.each_context(request), "title": title, "action": action, "selected": selected,
        "fields": fields, "problems": problems, "opts": modeladmin.model._meta,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME})


@admin.register(LlmGovernance)
class LlmGovernanceAdmin(ReadOnlyAdmin):
    list_display = ["stage", "shadow_since", "reason", "updated_by", "updated_at"]
    actions = ["change_stage"]

    @admin.action(description="Change the LLM stage…")
    def change_stage(self, request, queryset):
        post = request.POST
        fields = [{"name": "stage", "label": "Stage", "choices": LlmStage.choices, "value": post.get("stage", "")},
                  {"name": "evaluation_report", "label": "Evaluation report (above stage1)",
                   "value": post.get("evaluation_report", "")},
                  {"name": "effective_challenge_id", "label": "Effective-challenge id (above stage1)",
                   "value": post.get("effective_challenge_id", "")},
                  {"name": "reason", "label": "Reason (required, recorded and signed)", "value": post.get("reason", ""),
                   "textarea": True}]
        title = f"Change the LLM stage (now {llm_selectors.llm_governance_get().stage})"
        selected = [row.pk for row in queryset]
        if post.get("confirm") != "yes":
            return _llm_confirm(self, request, title=title, action="change_stage", selected=selected, fields=fields)
        try:
            decision = llm_services.llm_stage_set(
                stage=post.get("stage", ""), reason=post.get("reason", "")[:2000], actor=request.user.get_username(),
                roles=user_roles(request.user), via=Via.ADMIN,
                evaluation_report=post.get("evaluation_report", "")[:500],
                effective_challenge_id=post.get("effective_challenge_id", "")[:500])
        except ApplicationError as exc:
            reasons = exc.details.get("reasons") or [exc.message]
            return _llm_confirm(self, request, title=title, action="change_stage", selected=selected, fields=fields,
                                problems=reasons)
        self.message_user(request, f"LLM stage {decision.stage_before} → {decision.stage_after} (decision "
                                   f"#{decision.pk}, signed).", messages.SUCCESS)
        return None


class LlmAllowlistForm(forms.ModelForm):
    class Meta:
        model = LlmAllowlistEntry
        fields = ["kind", "value", "reason"]


@admin.register(LlmAllowlistEntry)
class LlmAllowlistEntryAdmin(admin.ModelAdmin):
    """Add an entry through the service (validated, audited, a control event); remove it behind a confirmation."""

    form = LlmAllowlistForm
    list_display = ["kind", "value", "reason", "added_by", "added_at"]
    list_filter = ["kind"]
    actions = ["remove_selected"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {k: v for k, v in super().get_actions(request).items() if k == "remove_selected"}

    def save_model(self, request, obj, form, change):
        try:
            llm_services.llm_allowlist_set(kind=obj.kind, value=obj.value, allowed=True, reason=obj.reason,
                                           actor=request.user.get_username(), roles=user_roles(request.user),
                                           via=Via.ADMIN)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def response_add(self, request, obj, post_url_continue=None):
        return super().response_post_save_add(request, obj)

    @admin.action(description="Remove from the allowlist…")
    def remove_selected(self, request, queryset):
        entries = list(queryset)
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("confirm") != "yes" or not reason:
            return _llm_confirm(self, request, title="Remove " + ", ".join(str(e) for e in entries),
                                action="remove_selected", selected=[e.pk for e in entries],
                                fields=[{"name": "reason", "label": "Reason (required, recorded)", "value": "",
                                         "textarea": True}],
                                problems=["Say why."] if request.POST.get("confirm") == "yes" else ())
        for entry in entries:
            try:
                llm_services.llm_allowlist_set(kind=entry.kind, value=entry.value, allowed=False, reason=reason,
                                               actor=request.user.get_username(), roles=user_roles(request.user),
                                               via=Via.ADMIN)
            except ApplicationError as exc:
                self.message_user(request, f"{entry}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{entry}: removed.", messages.SUCCESS)
        return None


@admin.register(LlmDecisionReview)
class LlmDecisionReviewAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "client_order_id", "strategy", "model", "prompt_version", "verdict", "confidence",
                    "applied_verdict", "stage", "effective_mode"]
    list_filter = ["verdict", "applied_verdict", "stage"]
    search_fields = ["client_order_id", "model"]


@admin.register(LlmStageDecision)
class LlmStageDecisionAdmin(ReadOnlyAdmin):
    list_display = ["id", "at", "stage_before", "stage_after", "actor", "reason", "decision_sha256", "key_id"]


@admin.register(LlmCircuit)
class LlmCircuitAdmin(ReadOnlyAdmin):
    list_display = ["open_until", "opened_at", "updated_at"]


@admin.register(LlmCircuitEvaluation)
class LlmCircuitEvaluationAdmin(ReadOnlyAdmin):
    list_display = ["at", "review", "errors_in_window", "open_after", "open_until_after", "opened"]
    list_filter = ["opened", "open_after"]
