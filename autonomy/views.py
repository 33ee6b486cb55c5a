"""Autonomy pages: the control flags as they stand, the alerts, readiness and LLM governance."""
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseForbidden, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from access.choices import Via
from access.roles import Role
from access.selectors import user_has_role, user_roles
from autonomy import llm_figures, selectors, services
from autonomy.choices import LLM_STAGE_RANK, LlmStage
from autonomy.filters import AlertFilter
from autonomy.llm_filters import LlmReviewFilter
from autonomy.llm_guardrails import REASONS
from core.errors import ApplicationError


@login_required
def index(request):
    return render(request, "autonomy/index.html", {
        "state": selectors.trading_state_get(),
        "symbols": selectors.symbol_control_list(),
        "strategies": selectors.strategy_state_list(),
        "budgets": selectors.budget_status(),
    })


@login_required
def readiness(request):
    state = selectors.readiness_get()
    history = [{"at": snap.at, "green": snap.green,
                "failing": ", ".join(c["id"] for c in snap.criteria if c.get("status") != "pass")}
               for snap in selectors.readiness_history(limit=96)]
    return render(request, "autonomy/readiness.html", {
        "state": state, "history": list(reversed(history)), "refusal": selectors.readiness_block(),
    })
# --- Alerts (alerts worker) -------------------------------------------------------------------

@login_required
def alert_list(request):
    """Alerts filtered exactly like ``GET /api/v1/alerts``; operators acknowledge and resolve here."""
    filterset = AlertFilter(request.GET or None, queryset=selectors.alert_list())
    qs = filterset.qs if filterset.is_bound and filterset.is_valid() else selectors.alert_list()
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "autonomy/alert_list.html", {
        "filter": filterset, "page": page, "query": query.urlencode(),
        "may_act": user_has_role(request.user, Role.OPERATOR), "sources": selectors.signal_sources(),
        "incidents": selectors.incidents_open()})


@login_required
@require_POST
def alert_action(request, alert_id: int, action: str):
    if not user_has_role(request.user, Role.OPERATOR):
        return HttpResponseForbidden("Only operators acknowledge or resolve alerts.")
    service = services.alert_acknowledge if action == "acknowledge" else services.alert_resolve
    try:
        service(alert_id=alert_id, actor=request.user.get_username(), comment=request.POST.get("comment", "")[:2000],
                roles=sorted(user_roles(request.user)), via=Via.PAGE)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Alert #{alert_id} {action}d.")
    # back to the list as it was filtered (only the list's own parameters: never another address)
    kept = QueryDict(request.POST.get("filters", ""), mutable=True)
    query = QueryDict(mutable=True)
    for key in ("status", "severity", "page"):
        if kept.get(key):
            query[key] = kept[key]
    return redirect(reverse("autonomy:alerts") + (f"?{query.urlencode()}" if query else ""))


# --- LLM governance ----------------------------------------------------------------------------

def _int(value, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return default


def _may_change_llm(user) -> bool:
    roles = user_roles(user)
    return Role.OPERATOR in roles and Role.AGENT not in roles


def _stage_choices(current: str) -> list[dict]:
    """The stages an operator may ask for from ``current``: any lower one, or the next one up."""
    rank = LLM_STAGE_RANK[current]
    return [{"value": stage, "label": label, "up": LLM_STAGE_RANK[stage] > rank}
            for stage, label in LlmStage.choices if LLM_STAGE_RANK[stage] < rank or LLM_STAGE_RANK[stage] == rank + 1]


@login_required
def llm_governance(request):
    """Stage, effective mode, circuit, verdict mix, error rate, guardrail rejections over time, the
    allowlists, the signed stage decisions and the latest reviews; operators change the stage from here."""
    days = _int(request.GET.get("days"), 30, 1, 366)
    now = timezone.now()
    dashboard = selectors.llm_dashboard(since=now - timedelta(days=days), until=now)
    state = selectors.llm_governance_get()
    params = request.GET.copy()
    params.pop("days", None)
    reviews = LlmReviewFilter(params, queryset=selectors.llm_review_list().order_by("-created_at", "-id"))
    decisions = [(d, selectors.llm_stage_decision_verify(d)) for d in selectors.llm_stage_decision_list()[:20]]
    return render(request, "autonomy/llm.html", {
        "days": days, "state": state, "stage_label": LlmStage(state.stage).label,
        "status": selectors.llm_status_get(now=now),
        "circuit": selectors.llm_circuit_get(now=now), "allowlists": selectors.llm_allowlist_entries(),
        "error_fallback": selectors.llm_error_fallback(), "dashboard": dashboard,
        "window": selectors.llm_stage_evidence(evaluation_report="", effective_challenge_id="",
                                               shadow_since=state.shadow_since, now=now),
        "charts": {"mix": llm_figures.to_html(llm_figures.verdict_mix_figure(dashboard["mix"])),
                   "rejections": llm_figures.to_html(llm_figures.rejections_figure(dashboard["days"],
                                                                                    dashboard["rejections"]))},
        "filter": reviews, "reviews": list(reviews.qs[:50]), "decisions": decisions,
        "may_change": _may_change_llm(request.user), "stage_choices": _stage_choices(state.stage),
        "reason_words": REASONS,
    })


def _refusal_lines(exc: ApplicationError) -> list[str]:
    """What a refused stage change says, one line each: the evidence missing, the fields, or the message."""
    fields = exc.details.get("fields") or {}
    return (list(exc.details.get("reasons") or []) or [f"{name}: {' '.join(msgs)}" for name, msgs in fields.items()]
            or [exc.message])


@login_required
def llm_stage_change(request):
    """The confirmation page of a stage change: the target, the evidence it will be judged on, and a
    reason. Operators only; the service decides (and signs) exactly as for the API."""
    if not _may_change_llm(request.user):
        raise PermissionDenied("Only operators change the LLM stage.")
    state = selectors.llm_governance_get()
    target = request.POST.get("stage") or request.GET.get("stage") or ""
    if target not in LlmStage.values or target == state.stage:
        messages.error(request, "Choose a stage other than the current one.")
        return redirect("autonomy:llm")
    problems: list[str] = []
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            decision = services.llm_stage_set(
                stage=target, reason=request.POST.get("reason", "")[:2000], actor=request.user.get_username(),
                roles=user_roles(request.user), via=Via.PAGE,
                evaluation_report=request.POST.get("evaluation_report", "")[:500],
                effective_challenge_id=request.POST.get("effective_challenge_id", "")[:500])
        except ApplicationError as exc:
            problems = _refusal_lines(exc)
        else:
            messages.success(request, f"LLM stage {decision.stage_before} → {decision.stage_after}; decision "
                                      f"#{decision.pk} signed by {decision.key_id}.")
            return redirect("autonomy:llm")
    now = timezone.now()
    return render(request, "autonomy/llm_stage_confirm.html", {
        "state": state, "target": target, "target_label": LlmStage(target).label,
        "up": LLM_STAGE_RANK[target] > LLM_STAGE_RANK[state.stage],
        "needs_evidence": LLM_STAGE_RANK[target] > max(LLM_STAGE_RANK[state.stage], 1),
        "window": selectors.llm_stage_evidence(evaluation_report="", effective_challenge_id="",
                                               shadow_since=state.shadow_since, now=now),
        "allowlists": selectors.llm_allowlists(), "problems": problems, "posted": request.POST,
    })
