"""Promotions in the admin: an approval queue whose approve and reject actions go through the
services behind a confirmation page showing the evidence; everything else read-only. Gate
policies are loaded (a new version) and activated here too, through the same services."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html

from access.choices import Via
from core.admin import ReadOnlyAdmin
from core.canonical import content_sha256
from core.errors import ApplicationError
from promotions import gates, selectors, services
from promotions.models import (
    AgentRun,
    Drill,
    Evaluation,
    GatePolicy,
    PolicyActivation,
    Promotion,
    PromotionDecision,
    ReplayRecord,
    SigningKey,
)


class DecisionInline(admin.TabularInline):
    model = PromotionDecision
    extra = 0
    can_delete = False
    fields = ["at", "action", "actor", "comment", "decision_sha256", "key_id"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Promotion)
class PromotionAdmin(ReadOnlyAdmin):
    """The approval queue: pending promotions first, approve/reject behind a confirmation page."""

    list_display = ["id", "strategy", "candidate", "stage_change", "status", "approvals", "requested_by",
                    "created_at", "evidence_link"]
    list_filter = ["status", "to_stage", "strategy"]
    search_fields = ["candidate__candidate_id", "strategy__name", "requested_by"]
    inlines = [DecisionInline]
    actions = ["approve_selected", "reject_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("strategy", "candidate")

    def get_ordering(self, request):
        return ["-status", "-id"]  # pending_approval sorts before applied, approved, rejected

    @admin.display(description="Stage")
    def stage_change(self, obj):
        return f"{obj.from_stage} → {obj.to_stage}"

    @admin.display(description="Approvals")
    def approvals(self, obj):
        done = obj.decisions.filter(action="approve").count()
        return f"{done}/{obj.approvals_required}"

    @admin.display(description="Evidence")
    def evidence_link(self, obj):
        return format_html('<a href="/promotions/{}/">evidence</a>', obj.pk)

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    @admin.action(description="Approve selected promotions…")
    def approve_selected(self, request, queryset):
        return self._decide(request, queryset, "approve")

    @admin.action(description="Reject selected promotions…")
    def reject_selected(self, request, queryset):
        return self._decide(request, queryset, "reject")

    def _decide(self, request, queryset, decision: str):
        promotions = list(queryset.select_related("strategy", "candidate", "evaluation"))
        if request.POST.get("confirm") != "yes":
            items = [{"promotion": p, "artifact": p.evaluation.artifact,
                      "replay": selectors.promotion_replay(promotion=p)} for p in promotions]
            return TemplateResponse(request, "admin/promotions/confirm_decision.html", {
                **self.admin_site.each_context(request), "title": f"{decision.capitalize()} promotions",
                "decision": decision, "items": items, "opts": self.model._meta,
                "action": f"{decision}_selected", "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME})
        comment = request.POST.get("comment", "")[:2000]
        service = services.promotion_approve if decision == "approve" else services.promotion_reject
        for promotion in promotions:
            try:
                result = service(promotion_id=promotion.pk, user=request.user, comment=comment, via=Via.ADMIN)
            except ApplicationError as exc:
                self.message_user(request, f"#{promotion.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"#{promotion.pk}: {decision}d; now {result.get_status_display()}.",
                                  messages.SUCCESS)
        return None


class GatePolicyForm(forms.ModelForm):
    document = forms.JSONField(help_text="The policy document (JSON). A stored version never changes: "
                                         "give a change a new version.")

    class Meta:
        model = GatePolicy
        fields = ["document"]

    def clean_document(self):
        document = self.cleaned_data["document"]
        problems = gates.policy_problems(document)
        if problems:
            raise forms.ValidationError([f"{path}: {' '.join(msgs)}" for path, msgs in problems.items()])
        stored = GatePolicy.objects.filter(version=document["version"]).first()
        if stored is not None and stored.sha256 != content_sha256(document):
            raise forms.ValidationError(f"Version {stored.version} is already stored with other content; "
                                        "give the change a new version.")
        return document


@admin.register(GatePolicy)
class GatePolicyAdmin(admin.ModelAdmin):
    """Load a new version (through the service: validated, hashed, audited) or activate one."""

    form = GatePolicyForm
    list_display = ["version", "sha256", "is_active", "created_by", "created_at"]
    actions = ["activate_selected"]

    @admin.display(boolean=True, description="Active")
    def is_active(self, obj):
        active = selectors.policy_active()
        return bool(active and active.pk == obj.pk)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return ["version", "sha256", "document", "created_by", "created_at"] if obj else []

    def get_fields(self, request, obj=None):
        return ["version", "sha256", "created_by", "created_at", "document"] if obj else ["document"]

    def save_model(self, request, obj, form, change):
        stored, _ = services.policy_load(document=form.cleaned_data["document"], actor=request.user.get_username(),
                                         via=Via.ADMIN)
        obj.pk, obj.version, obj.sha256 = stored.pk, stored.version, stored.sha256
        obj._state.adding = False

    @admin.action(description="Activate the selected version…")
    def activate_selected(self, request, queryset):
        policies = list(queryset)
        if len(policies) != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return None
        policy = policies[0]
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("confirm") != "yes" or not reason:
            active = selectors.policy_active()
            from promotions.policy_diff import policy_diff
            return TemplateResponse(request, "admin/promotions/confirm_activation.html", {
                **self.admin_site.each_context(request), "title": f"Activate {policy.version}", "policy": policy,
                "active": active, "missing_reason": request.POST.get("confirm") == "yes" and not reason,
                "diff": policy_diff(active.document, policy.document) if active else [],
                "opts": self.model._meta, "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME})
        try:
            services.policy_activate(version=policy.version, actor=request.user.get_username(), reason=reason,
                                     via=Via.ADMIN)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, f"{policy.version} is now the active gate policy.", messages.SUCCESS)
        return None


@admin.register(PolicyActivation)
class PolicyActivationAdmin(ReadOnlyAdmin):
    list_display = ["id", "policy", "previous", "actor", "reason", "at"]


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["key_id", "status", "created_by", "created_at", "retired_at", "revoked_at"]
    list_filter = ["status"]


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyAdmin):
    list_display = ["evaluation_id", "strategy", "candidate", "target", "policy", "allowed", "key_id", "created_at"]
    list_filter = ["allowed", "target", "strategy"]
    search_fields = ["candidate__candidate_id"]


@admin.register(AgentRun)
class AgentRunAdmin(ReadOnlyAdmin):
    list_display = ["agent_run_id", "research_run_id", "candidate_id", "promotion_target", "orchestration_stage",
                    "failure_class", "created_by", "created_at"]


@admin.register(Drill)
class DrillAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "strategy", "passed", "created_by", "at"]
    list_filter = ["kind", "passed"]


@admin.register(PromotionDecision)
class PromotionDecisionAdmin(ReadOnlyAdmin):
    list_display = ["id", "promotion", "action", "actor", "decision_sha256", "key_id", "at"]
    list_filter = ["action"]


@admin.register(ReplayRecord)
class ReplayRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "promotion", "reproducible", "elapsed_ms", "created_by", "at"]
    list_filter = ["reproducible"]
