"""The autonomy controls in the admin: every row read-only; the trading state, the LEAN lane, symbols and
budgets change only through actions (or add forms) that call the services, each behind a page asking for
a reason. Control events, evaluations, budget use and positions are shown read-only."""
from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from access.choices import Via
from access.selectors import user_roles
from autonomy import services
from autonomy.choices import BREACH_STATES, BudgetName, LlmStage, SymbolMode, TradingStateChoice
from autonomy.models import (
    Alert,
    AlertDelivery,
    AlertDeliveryAttempt,
    AuditChainCheck,
    BudgetPolicy,
    BudgetUsage,
    ConditionEvaluation,
    ControlEvent,
    Heartbeat,
    Incident,
    LaneCycle,
    LaneCycleStage,
    LaneState,
    LlmAllowlistEntry,
    LlmCircuit,
    LlmCircuitEvaluation,
    LlmDecisionReview,
    LlmGovernance,
    LlmStageDecision,
    PlaybookActivation,
    PlaybookVersion,
    Position,
    PositionReconciliation,
    ReadinessSnapshot,
    SignalSource,
    StrategyTradingState,
    SymbolControl,
    SymbolDrift,
    TradingState,
)
from core.admin import ReadOnlyAdmin
from core.chain import CHAIN_FIELDS
from core.errors import ApplicationError
from strategies.models import Strategy

CAP_FIELDS = services.CAP_FIELDS


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), max_length=services.REASON_MAX,
                             help_text="Required; recorded with the change.")


def _positive_caps(form: forms.Form) -> None:
    for name in CAP_FIELDS:
        value = form.cleaned_data.get(name)
        if value is not None and value <= 0:
            form.add_error(name, "A cap is a positive number (leave it empty for none).")


class CapsForm(ReasonForm):
    max_qty_per_order = forms.DecimalField(required=False, max_digits=24, decimal_places=8)
    max_notional_per_order = forms.DecimalField(required=False, max_digits=24, decimal_places=8)
    max_notional_per_day = forms.DecimalField(required=False, max_digits=24, decimal_places=8)

    def clean(self):
        data = super().clean()
        _positive_caps(self)
        return data


class BudgetForm(ReasonForm):
    limit = forms.DecimalField(min_value=0, max_digits=24, decimal_places=8)
    on_breach = forms.ChoiceField(choices=[(s, s) for s in BREACH_STATES])


class ConfirmedChanges(ReadOnlyAdmin):
    """Read-only rows whose changes go through actions behind a confirmation page with a reason (and, for
    a first row, an add form that asks for the reason and calls the service)."""

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ApplicationError as exc:  # refused by the service: nothing was written
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def confirmed(self, request, queryset, *, action: str, title: str, what: str,
                  apply: Callable[[object, dict], object], form_class: type[forms.Form] = ReasonForm,
                  initial: dict | None = None):
        objects = list(queryset)
        confirming = request.POST.get("confirm") == "yes"
        form = form_class(request.POST if confirming else None, initial=initial)
        if not confirming or not form.is_valid():
            return TemplateResponse(request, "admin/autonomy/confirm_change.html", {
                **self.admin_site.each_context(request), "title": title, "what": what, "objects": objects,
                "form": form, "action": action, "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME})
        for obj in objects:
            try:
                apply(obj, form.cleaned_data)
            except ApplicationError as exc:
                self.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{obj}: {what}", messages.SUCCESS)
        return None

    @staticmethod
    def who(request) -> dict:
        return {"actor": request.user.get_username(), "roles": user_roles(request.user), "via": Via.ADMIN}


def _state_actions(set_state: Callable[[object, str, dict, object], object]):
    """Admin actions ACTIVE / REDUCING / HALTED calling ``set_state(obj, state, data, request)``."""
    def make(state: str):
        def action(self, request, queryset):
            return self.confirmed(request, queryset, action=f"set_{state.lower()}", title=f"Set {state}",
                                  what=f"trading set to {state}",
                                  apply=lambda obj, data: set_state(self, obj, state, data, request))
        action.__name__ = f"set_{state.lower()}"
        return admin.action(description=f"Set trading to {state}…")(action)
    return [make(s) for s in TradingStateChoice.values]


@admin.register(TradingState)
class TradingStateAdmin(ConfirmedChanges):
    list_display = ["state", "reason", "cause", "lean_enabled", "lean_disabled_reason", "updated_by", "updated_at"]

    def _set(self, obj, state, data, request):
        return services.trading_state_set(state=state, reason=data["reason"], user=request.user, **self.who(request))

    set_active, set_reducing, set_halted = _state_actions(_set)
    actions = ["set_active", "set_reducing", "set_halted", "lean_enable", "lean_disable"]

    def changelist_view(self, request, extra_context=None):
        services.global_row_ensure()  # the row always exists, with the defaults, so actions can select it
        return super().changelist_view(request, extra_context)

    @admin.action(description="Enable the LEAN lane…")
    def lean_enable(self, request, queryset):
        return self.confirmed(request, queryset, action="lean_enable", title="Enable the LEAN lane",
                              what="LEAN lane enabled", apply=lambda obj, data: services.lean_lane_set(
                                  enabled=True, reason=data["reason"], **self.who(request)))

    @admin.action(description="Disable the LEAN lane…")
    def lean_disable(self, request, queryset):
        return self.confirmed(request, queryset, action="lean_disable", title="Disable the LEAN lane",
                              what="LEAN lane disabled", apply=lambda obj, data: services.lean_lane_set(
                                  enabled=False, reason=data["reason"], **self.who(request)))


class StrategyStateForm(forms.ModelForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=services.REASON_MAX)

    class Meta:
        model = StrategyTradingState
        fields = ["strategy", "state"]


@admin.register(StrategyTradingState)
class StrategyTradingStateAdmin(ConfirmedChanges):
    """A strategy's own state: set for the first time through the add form (which asks for the reason),
    changed later through the actions."""

    list_display = ["strategy", "state", "reason", "cause", "updated_by", "updated_at"]
    list_filter = ["state"]
    form = StrategyStateForm

    def _set(self, obj, state, data, request):
        return services.trading_state_set(state=state, reason=data["reason"], strategy=obj.strategy,
                                          user=request.user, **self.who(request))

    set_active, set_reducing, set_halted = _state_actions(_set)
    actions = ["set_active", "set_reducing", "set_halted"]

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.base_fields["strategy"].queryset = Strategy.objects.filter(trading_state_row__isnull=True)
        return form

    def save_model(self, request, obj, form, change):
        row = services.trading_state_set(state=form.cleaned_data["state"], reason=form.cleaned_data["reason"],
                                         strategy=form.cleaned_data["strategy"], user=request.user,
                                         **self.who(request))
        obj.pk = row.pk
        obj._state.adding = False


class SymbolForm(forms.ModelForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=services.REASON_MAX)

    class Meta:
        model = SymbolControl
        fields = ["symbol", "mode", *CAP_FIELDS, "lean_allowed"]

    def clean_symbol(self):
        return self.cleaned_data["symbol"].strip().upper()

    def clean(self):
        data = super().clean()
        _positive_caps(self)
        return data


@admin.register(SymbolControl)
class SymbolControlAdmin(ConfirmedChanges):
    """A symbol's controls: the add form (asking for the reason) stores its first row through the service;
    the actions change its mode (canary with its caps) and LEAN entry behind a confirmation page."""

    list_display = ["symbol", "mode", "health_reason", *CAP_FIELDS, "lean_allowed", "updated_by", "updated_at"]
    list_filter = ["mode", "lean_allowed"]
    search_fields = ["symbol"]
    form = SymbolForm
    actions = ["set_enabled", "set_canary", "set_disabled", "lean_allow", "lean_deny"]

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        row = services.symbol_mode_set(symbol=data["symbol"], mode=data["mode"], reason=data["reason"],
                                       caps={k: data.get(k) for k in CAP_FIELDS}, lean_allowed=data.get("lean_allowed"),
                                       **self.who(request))
        obj.pk = row.pk
        obj._state.adding = False

    def _mode(self, request, queryset, mode: str, form_class=ReasonForm):
        def apply(obj, data):
            caps = {k: data.get(k) for k in CAP_FIELDS} if form_class is CapsForm else None
            return services.symbol_mode_set(symbol=obj.symbol, mode=mode, reason=data["reason"], caps=caps,
                                            **self.who(request))
        return self.confirmed(request, queryset, action=f"set_{mode}", title=f"Set symbols to {mode}",
                              what=f"mode {mode}", apply=apply, form_class=form_class)

    @admin.action(description="Enable the selected symbols…")
    def set_enabled(self, request, queryset):
        return self._mode(request, queryset, SymbolMode.ENABLED)

    @admin.action(description="Put the selected symbols in canary mode (with caps)…")
    def set_canary(self, request, queryset):
        return self._mode(request, queryset, SymbolMode.CANARY, CapsForm)

    @admin.action(description="Disable the selected symbols…")
    def set_disabled(self, request, queryset):
        return self._mode(request, queryset, SymbolMode.DISABLED)

    def _lean(self, request, queryset, allowed: bool):
        return self.confirmed(
            request, queryset, action="lean_allow" if allowed else "lean_deny",
            title="Allow LEAN for the symbols" if allowed else "Keep the symbols off LEAN",
            what="LEAN allowed" if allowed else "LEAN not allowed",
            apply=lambda obj, data: services.symbol_mode_set(symbol=obj.symbol, mode=obj.mode, reason=data["reason"],
                                                             health_reason=obj.health_reason, lean_allowed=allowed,
                                                             **self.who(request)))

    @admin.action(description="Put the selected symbols on the LEAN allowlist…")
    def lean_allow(self, request, queryset):
        return self._lean(request, queryset, True)

    @admin.action(description="Take the selected symbols off the LEAN allowlist…")
    def lean_deny(self, request, queryset):
        return self._lean(request, queryset, False)


class BudgetPolicyForm(forms.ModelForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=services.REASON_MAX)

    class Meta:
        model = BudgetPolicy
        fields = ["name", "limit", "on_breach"]


@admin.register(BudgetPolicy)
class BudgetPolicyAdmin(ConfirmedChanges):
    """Budget limits as data: stored through the add form, changed through the action (both ask for the
    reason and call ``budget_policy_set``)."""

    list_display = ["name", "limit", "on_breach", "updated_by", "updated_at"]
    form = BudgetPolicyForm
    actions = ["change_limit"]

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        stored = set(BudgetPolicy.objects.values_list("name", flat=True))
        form.base_fields["name"].choices = [(n, n) for n in BudgetName.values if n not in stored]
        return form

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        row = services.budget_policy_set(name=data["name"], limit=data["limit"], on_breach=data["on_breach"],
                                         reason=data["reason"], **self.who(request))
        obj.pk = row.pk
        obj._state.adding = False

    @admin.action(description="Change the selected budgets' limit…")
    def change_limit(self, request, queryset):
        first = queryset.first()
        return self.confirmed(
            request, queryset, action="change_limit", title="Change budget limits", what="limit changed",
            form_class=BudgetForm, initial={"limit": first.limit, "on_breach": first.on_breach} if first else None,
            apply=lambda obj, data: services.budget_policy_set(
                name=obj.name, limit=data["limit"], on_breach=data["on_breach"], reason=data["reason"],
                **self.who(request)))


@admin.register(ControlEvent)
class ControlEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "scope", "actor", "via", "reason", "before", "after", "chain_position"]
    list_filter = ["kind", "via"]
    search_fields = ["scope", "actor", "reason"]
    readonly_fields = CHAIN_FIELDS  # set by the database's chain trigger (core.chain); shown, never edited


@admin.register(AuditChainCheck)
class AuditChainCheckAdmin(ReadOnlyAdmin):
    """Each verification of the hash chains (``manage.py verify_audit``, the worker's schedule)."""

    list_display = ["at", "ok", "rows_checked", "first_break", "created_by", "finished_at"]
    list_filter = ["ok"]


@admin.register(ConditionEvaluation)
class ConditionEvaluationAdmin(ReadOnlyAdmin):
    list_display = ["at", "condition", "scope", "breached", "action", "actor", "inputs"]
    list_filter = ["condition", "breached"]


@admin.register(BudgetUsage)
class BudgetUsageAdmin(ReadOnlyAdmin):
    list_display = ["day", "name", "used", "breached_at", "updated_at"]
    list_filter = ["name"]


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    """Positions with their symbol's figures at the last reconciliation (kept per symbol: Symbol drift)."""

    list_display = ["strategy", "symbol", "qty", "avg_entry_price", "realized_pnl", "broker_qty", "drift",
                    "reconciled_at", "updated_at"]
    list_filter = ["strategy"]
    search_fields = ["symbol"]

    def get_queryset(self, request):
        from autonomy.selectors import positions_reconciled

        return positions_reconciled(super().get_queryset(request))

    @admin.display(description="Broker qty", ordering="broker_qty")
    def broker_qty(self, obj):
        return obj.broker_qty

    @admin.display(description="Drift", ordering="drift")
    def drift(self, obj):
        return obj.drift

    @admin.display(description="Reconciled at", ordering="reconciled_at")
    def reconciled_at(self, obj):
        return obj.reconciled_at


@admin.register(SymbolDrift)
class SymbolDriftAdmin(ReadOnlyAdmin):
    """Per symbol, the last reconciliation's figures: the strategies' sum, the broker's, orders in flight and
    the drift nobody has explained (written by reconciliation only)."""

    list_display = ["symbol", "ours_qty", "broker_qty", "in_flight_qty", "drift", "changed_at"]
    search_fields = ["symbol"]


@admin.register(PositionReconciliation)
class PositionReconciliationAdmin(ReadOnlyAdmin):
    """The last comparison of positions with the broker: when, how many symbols, how many drifting."""

    list_display = ["at", "symbols", "unexplained", "changed", "actor"]


@admin.register(ReadinessSnapshot)
class ReadinessSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["at", "green", "window_start", "created_by"]
    list_filter = ["green"]
# === alerts worker: alerts, deliveries, incidents, heartbeats ====================================

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


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AttemptInline(ReadOnlyInline):
    model = AlertDeliveryAttempt
    fields = ["number", "worker", "started_at", "finished_at", "status_code", "ok", "error", "duration_ms"]


class DeliveryInline(ReadOnlyInline):
    model = AlertDelivery
    fields = ["event", "channel", "status", "attempts", "next_attempt_at", "delivered_at", "last_error"]
    show_change_link = True


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
            explanation="A resolved alert is final; the condition raising it again opens a new alert. An alert "
                        "whose critical flag is still set (the LEAN lane off, trading HALTED, a budget breached "
                        "today) is refused: acknowledge it; it resolves by itself when the flag is lifted.",
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


@admin.register(SignalSource)
class SignalSourceAdmin(ReadOnlyAdmin):
    list_display = ["source", "symbol", "expected", "last_observed_at", "last_received_at", "last_status",
                    "failure_streak", "beats"]
    list_filter = ["expected"]
    search_fields = ["source", "symbol"]
    actions = ["retire_selected"]

    @admin.action(description="Retire the selected sources (the stale-signal rule stops judging them)…")
    def retire_selected(self, request, queryset):
        return _confirmed_action(
            self, request, queryset, action="retire_selected", title="Retire signal sources", verb="retire",
            explanation="A retired source no longer trips the stale-signal rule; its next heartbeat makes it "
                        "expected again. Give the reason (e.g. the loop was decommissioned).",
            run=lambda s, c: services.signal_source_retire(source_id=s.pk, reason=c, actor=request.user.get_username(),
                                                           roles=user_roles(request.user), via=Via.ADMIN))


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["id", "source", "symbol", "observed_at", "received_at", "status", "detail", "actor"]
    list_filter = ["status"]
    search_fields = ["source", "symbol"]


@admin.register(PlaybookVersion)
class PlaybookVersionAdmin(ReadOnlyAdmin):
    """Playbook documents (``manage.py playbook load`` / ``activate``); the active one marked."""

    list_display = ["version", "sha256", "is_active", "created_by", "created_at"]

    @admin.display(boolean=True, description="Active")
    def is_active(self, obj):
        from autonomy.selectors import playbook_active

        active = playbook_active()
        return bool(active and active.pk == obj.pk)


@admin.register(PlaybookActivation)
class PlaybookActivationAdmin(ReadOnlyAdmin):
    list_display = ["id", "playbook", "previous", "actor", "reason", "at"]


# --- LLM governance ----------------------------------------------------------------------------
# Reviews, circuit evaluations and stage decisions are evidence (read-only). The stage and the
# allowlists change only through the services, behind a confirmation page asking for a reason.

class LlmStageForm(forms.Form):
    stage = forms.ChoiceField(choices=LlmStage.choices)
    evaluation_report = forms.CharField(required=False, max_length=500, help_text="Required above stage1.")
    effective_challenge_id = forms.CharField(required=False, max_length=500, help_text="Required above stage1.")
    reason = ReasonForm.base_fields["reason"]


@admin.register(LlmGovernance)
class LlmGovernanceAdmin(ConfirmedChanges):
    list_display = ["stage", "shadow_since", "reason", "updated_by", "updated_at"]
    actions = ["change_stage"]

    @admin.action(description="Change the LLM stage…")
    def change_stage(self, request, queryset):
        return self.confirmed(
            request, queryset, action="change_stage", title="Change the LLM stage",
            what="LLM stage changed (a signed decision)", form_class=LlmStageForm,
            apply=lambda obj, data: services.llm_stage_set(
                stage=data["stage"], reason=data["reason"], evaluation_report=data["evaluation_report"],
                effective_challenge_id=data["effective_challenge_id"], **self.who(request)))


class LlmAllowlistForm(forms.ModelForm):
    reason = ReasonForm.base_fields["reason"]

    class Meta:
        model = LlmAllowlistEntry
        fields = ["kind", "value"]


@admin.register(LlmAllowlistEntry)
class LlmAllowlistEntryAdmin(ConfirmedChanges):
    """Added through the add form, removed through the action (both ask for the reason and call
    ``llm_allowlist_set``)."""

    form = LlmAllowlistForm
    list_display = ["kind", "value", "reason", "added_by", "added_at"]
    list_filter = ["kind"]
    actions = ["remove_selected"]

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        services.llm_allowlist_set(kind=data["kind"], value=data["value"], allowed=True, reason=data["reason"],
                                   **self.who(request))
        obj.pk = LlmAllowlistEntry.objects.get(kind=data["kind"], value=data["value"]).pk
        obj._state.adding = False

    @admin.action(description="Remove from the allowlist…")
    def remove_selected(self, request, queryset):
        return self.confirmed(request, queryset, action="remove_selected", title="Remove from the LLM allowlist",
                              what="removed from the allowlist",
                              apply=lambda obj, data: services.llm_allowlist_set(
                                  kind=obj.kind, value=obj.value, allowed=False, reason=data["reason"],
                                  **self.who(request)))


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


# --- The autonomous lane: read-only here; an operator resumes a paused lane on /autonomy/lane/ ---------

class LaneStageInline(ReadOnlyInline):
    model = LaneCycleStage
    fields = ["position", "stage", "status", "attempt", "summary", "error", "started_at", "finished_at", "detail"]


@admin.register(LaneCycle)
class LaneCycleAdmin(ReadOnlyAdmin):
    list_display = ["id", "key", "trigger", "status", "attempt", "failure_class", "next_retry_at", "signals",
                    "candidates", "handoffs", "rollbacks", "started_at", "finished_at"]
    list_filter = ["status", "trigger", "failure_class"]
    search_fields = ["key", "reason", "error"]
    inlines = [LaneStageInline]


@admin.register(LaneState)
class LaneStateAdmin(ReadOnlyAdmin):
    list_display = ["paused", "paused_reason", "paused_at", "paused_by", "resumed_at", "resumed_by",
                    "feed_dataset", "feed_sessions", "updated_at"]
