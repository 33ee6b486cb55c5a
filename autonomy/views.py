"""Autonomy pages: the control room, the alerts, readiness and LLM governance."""
from __future__ import annotations

import json
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseForbidden, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from access.choices import Via
from access.middleware import annotate
from access.roles import Role
from access.selectors import StrategyPerm, strategies_for, user_has_role, user_roles
from autonomy import forms, llm_figures, rules, selectors, services
from autonomy.choices import LLM_STAGE_RANK, AlertStatus, LlmStage, TradingStateChoice, strictest
from autonomy.filters import AlertFilter
from autonomy.llm_filters import LlmReviewFilter
from autonomy.llm_guardrails import REASONS
from core.canonical import decimal_str
from core.errors import ApplicationError, PermissionRefused, invalid_fields
from core.live import is_refresh, render_live
from core.pagination import paginate
from core.ranges import ALL, RangeForm, picker, ranged_filterset
from core.ranges import PARAMS as RANGE_PARAMS

# === console: the control room (issue 10, section 8) ==============================================
# Every change is a form POST (CSRF) to a view below that calls the same service as the API, with the
# user's roles: who may move which control which way is the services' decision (autonomy.rules). The
# roles each door admits are the API's (access.permissions.HasRole; superusers pass).

STATE_ROLES = (Role.OPERATOR, Role.AGENT)  # POST /api/v1/autonomy/trading-state
SYMBOL_ROLES = (Role.OPERATOR,)  # PUT /api/v1/autonomy/symbols/{symbol}
LEAN_ROLES = (Role.OPERATOR, Role.AGENT)  # agents may disable the lane, never enable it (the service)
ALERT_ROLES = (Role.OPERATOR,)  # POST /api/v1/alerts/{id}/acknowledge
PAGE_SIZES = {"al_page": 10, "st_page": 25, "sym_page": 50, "pos_page": 25, "ev_page": 25}
KEPT_PARAMS = ("q", "mode", *PAGE_SIZES, *RANGE_PARAMS)  # RANGE_PARAMS: the control events' range


def _kept(params: QueryDict) -> QueryDict:
    """The control room's own query parameters (filters and page numbers) out of ``params``."""
    kept = QueryDict(mutable=True)
    for key in KEPT_PARAMS:
        if params.get(key):
            kept[key] = params.get(key)[:100]
    return kept


def _pager(params: QueryDict, qs, param: str) -> dict:
    """One of the control room's lists: ``page`` (its rows) and ``pager`` (the shared pager, whose links keep
    the room's filters and the other lists' pages, and come back to this list's anchor)."""
    rows, pager = paginate(_kept(params), qs, per_page=PAGE_SIZES[param], param=param, anchor=param,
                           base=reverse("autonomy:index"))
    return {"page": rows, "pager": pager, "param": param}


def _moves(kind: str, current: str, cause: str) -> list[str]:
    """The trading states ``kind`` may move a scope to from ``current`` (the services' rule)."""
    return [s for s in TradingStateChoice.values if s != current
            and rules.state_change_refusal(kind=kind, current=current, current_cause=cause, new=s) is None]


def _symbol_row(row) -> dict:
    caps = {name: decimal_str(getattr(row, name)) for name in forms.CAP_FIELDS}
    if row.lean_allowed is None:
        lean = "policy: LEAN" if selectors.lean_policy_allows(row.symbol) else "policy: fallback"
    else:
        lean = "allowed" if row.lean_allowed else "not allowed"
    fill = {"symbol": row.symbol, "mode": row.mode, "health_reason": row.health_reason, "lean_allowed": "",
            **{k: v or "" for k, v in caps.items()}}
    return {"row": row, "caps": caps, "lean": lean, "fill_json": json.dumps(fill)}


def _shown(value) -> str:
    """A control event's value as the page shows it."""
    if value is None or value == "":
        return "—"
    return value if isinstance(value, str) else json.dumps(value)


def _control_room(request, params: QueryDict, *, status: int = 200, refusal: ApplicationError | None = None,
                  live_refresh: bool = False):
    user = request.user
    roles = user_roles(user)
    kind = rules.actor_kind(user.get_username(), roles)
    may_state = user_has_role(user, *STATE_ROLES)
    if not may_state:
        operable: set[int] | None = set()
    elif user.is_superuser or Role.AGENT in roles:
        operable = None  # every strategy
    else:
        operable = set(strategies_for(user, StrategyPerm.OPERATE).values_list("pk", flat=True))

    glob = selectors.trading_state_row()
    strategies = _pager(params, selectors.strategy_control_list(), "st_page")
    for s in strategies["page"]:
        s.effective_state = strictest(glob.state, s.own_state)
        s.moves = _moves(kind, s.own_state, s.own_cause) if operable is None or s.pk in operable else []
    live = {
        "glob": glob, "global_moves": _moves(kind, glob.state, glob.cause) if may_state else [],
        "may_lean": user_has_role(user, *LEAN_ROLES), "may_alerts": user_has_role(user, *ALERT_ROLES),
        "alerts": _pager(params, selectors.alerts_unresolved(), "al_page"),
        "heartbeats": selectors.heartbeat_freshness(), "budgets": selectors.budget_gauges(),
        "strategies": strategies, "scoped_operator": operable is not None and may_state,
        "live_url": reverse("autonomy:index") + (f"?{_kept(params).urlencode()}" if _kept(params) else ""),
    }
    if live_refresh:  # the live region only (its figures): the symbol grid, positions and events stay as loaded
        return render_live(request, "autonomy/index.html", live)

    symbol_filter = forms.SymbolFilterForm(params)
    text, mode = ("", "")
    if symbol_filter.is_valid():
        text, mode = symbol_filter.cleaned_data["q"].strip(), symbol_filter.cleaned_data["mode"]
    symbols = _pager(params, selectors.symbol_grid(text=text, mode=mode), "sym_page")
    event_range = RangeForm(params, default=ALL, allow_all=True)
    event_query = _kept(params)
    event_query.pop("ev_page", None)  # a new range starts on its first page
    if not event_range.is_valid():
        status = 400
    events = _pager(params, event_range.window.filter(selectors.control_event_list(), "at")
                    if event_range.is_valid() else selectors.control_event_list().none(), "ev_page")
    for e in events["page"]:
        e.changes = [{"key": c.key, "before": _shown(c.before), "after": _shown(c.after)}
                     for c in selectors.event_changes(e.before, e.after)]

    return render_live(request, "autonomy/index.html", {
        **live, "may_symbols": user_has_role(user, *SYMBOL_ROLES),
        "symbol_filter": symbol_filter, "symbols": symbols, "symbol_filtered": bool(text or mode),
        "symbol_rows": [_symbol_row(r) for r in symbols["page"]], "symbol_form": forms.SymbolForm(),
        "positions": _pager(params, selectors.position_drift_list(), "pos_page"),
        "drifting": selectors.position_drift_count(), "events": events,
        "event_range": picker(event_range, event_query), "event_range_valid": event_range.is_valid(),
        "back": _kept(params).urlencode(), "refusal": refusal,
        "refusal_fields": (refusal.details.get("fields") or {}) if refusal else {},
    }, status=status)


@login_required
def index(request):
    return _control_room(request, request.GET, live_refresh=is_refresh(request))


def _change(request, *, roles, form_class, action: str, apply):
    """Parse the posted form, check the door's roles, call the service (``apply``); on success back to the
    control room with a message, on a refusal the control room again with the refusal and its status."""
    back = QueryDict(request.POST.get("back", ""))
    try:
        if not user_has_role(request.user, *roles):
            raise PermissionRefused("Your roles do not allow this action.")
        form = form_class(request.POST)
        if not form.is_valid():
            raise invalid_fields("Invalid input", {k: [str(m) for m in v] for k, v in form.errors.items()})
        done = apply(form, request.user.get_username(), user_roles(request.user))
    except ApplicationError as exc:
        annotate(request, action=action, error_code=exc.code)
        return _control_room(request, back, status=exc.http_status, refusal=exc)
    annotate(request, action=action)
    messages.success(request, done)
    query = _kept(back).urlencode()
    return redirect(reverse("autonomy:index") + (f"?{query}" if query else ""))


@login_required
@require_POST
def trading_state_change(request):
    def apply(form, actor, roles):
        data = form.cleaned_data
        row = services.trading_state_set(state=data["state"], reason=data["reason"], actor=actor, roles=roles,
                                         via=Via.PAGE, strategy=data["strategy"] or None, user=request.user)
        return f"Trading {'of ' + data['strategy'] if data['strategy'] else 'globally'} is now {row.state}."

    return _change(request, roles=STATE_ROLES, form_class=forms.TradingStateForm, action="trading_state_set",
                   apply=apply)


@login_required
@require_POST
def lean_lane_change(request):
    def apply(form, actor, roles):
        row = services.lean_lane_set(enabled=form.cleaned_data["enabled"], reason=form.cleaned_data["reason"],
                                     actor=actor, roles=roles, via=Via.PAGE)
        return f"The LEAN lane is now {'enabled' if row.lean_enabled else 'disabled'}."

    return _change(request, roles=LEAN_ROLES, form_class=forms.LeanLaneForm, action="lean_lane_set", apply=apply)


@login_required
@require_POST
def symbol_change(request):
    def apply(form, actor, roles):
        data = form.cleaned_data
        row = services.symbol_mode_set(symbol=data["symbol"], mode=data["mode"], reason=data["reason"], actor=actor,
                                       roles=roles, via=Via.PAGE, caps=form.caps(), lean_allowed=data["lean_allowed"],
                                       health_reason=data["health_reason"] or None)
        return f"{row.symbol} is now {row.mode}."

    return _change(request, roles=SYMBOL_ROLES, form_class=forms.SymbolForm, action="symbol_mode_set", apply=apply)


@login_required
@require_POST
def alert_acknowledge_change(request, alert_id: int):
    def apply(form, actor, roles):
        alert = services.alert_acknowledge(alert_id=alert_id, actor=actor, comment=form.cleaned_data["comment"],
                                           roles=roles, via=Via.PAGE)
        return f"Alert #{alert.pk} acknowledged."

    return _change(request, roles=ALERT_ROLES, form_class=forms.AcknowledgeForm, action="alert_acknowledge",
                   apply=apply)


@login_required
def readiness(request):
    state = selectors.readiness_get()
    history = [{"at": snap.at, "green": snap.green,
                "failing": ", ".join(c["id"] for c in snap.criteria if c.get("status") != "pass")}
               for snap in selectors.readiness_history(limit=96)]
    return render(request, "autonomy/readiness.html", {
        "state": state, "history": list(reversed(history)), "refusal": selectors.readiness_block(state=state),
    })
# --- Alerts (alerts worker) -------------------------------------------------------------------

@login_required
def alert_list(request):
    """Alerts filtered exactly like ``GET /api/v1/alerts``; operators acknowledge and resolve here."""
    window = RangeForm(request.GET, default=ALL, allow_all=True)  # alerts seen within the range
    filterset = ranged_filterset(AlertFilter, request.GET, queryset=selectors.alert_list())
    valid = filterset.is_valid() and window.is_valid()
    qs = window.window.filter(filterset.qs, "last_seen_at") if valid else selectors.alert_list().none()
    rows, pager = paginate(request.GET, qs, per_page=50)
    may_act = user_has_role(request.user, Role.OPERATOR)
    rows = list(rows)
    if may_act:  # an alert standing for a critical flag still set is not resolved by hand: say when it will be
        held = {flag.dedup_key: flag.lifted_by for flag in selectors.critical_flags()}
        for row in rows:
            row.resolves_when = held.get(row.dedup_key) if row.status != AlertStatus.RESOLVED else None
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "autonomy/alert_list.html", {
        "filter": filterset, "picker": picker(window, request.GET), "valid": valid, "page": rows, "pager": pager,
        "query": query.urlencode(),
        "may_act": may_act, "sources": selectors.signal_sources(),
        "incidents": selectors.incidents_open()}, status=200 if valid else 400)


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
    for key in ("status", "severity", "page", *RANGE_PARAMS):
        if kept.get(key):
            query[key] = kept[key]
    return redirect(reverse("autonomy:alerts") + (f"?{query.urlencode()}" if query else ""))


# --- LLM governance ----------------------------------------------------------------------------

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
    now = timezone.now()
    window = RangeForm(request.GET, default="30d", now=now)
    span = window.window  # the default while the range is invalid (the reviews list is empty then)
    dashboard = selectors.llm_dashboard(since=span.since or now - timedelta(days=366 * 10), until=span.until or now)
    state = selectors.llm_governance_get()
    reviews = ranged_filterset(LlmReviewFilter, request.GET,
                               queryset=selectors.llm_review_list().order_by("-created_at", "-id"))
    valid = window.is_valid() and reviews.is_valid()
    listed, review_pager = paginate(request.GET, span.filter(reviews.qs, "created_at") if valid
                                    else reviews.qs.none(), per_page=50, anchor="llm-reviews")
    decisions = [(d, selectors.llm_stage_decision_verify(d)) for d in selectors.llm_stage_decision_list()[:20]]
    return render(request, "autonomy/llm.html", {
        "picker": picker(window, request.GET), "valid": valid, "state": state,
        "stage_label": LlmStage(state.stage).label,
        "status": selectors.llm_status_get(now=now),
        "circuit": selectors.llm_circuit_get(now=now), "allowlists": selectors.llm_allowlist_entries(),
        "error_fallback": selectors.llm_error_fallback(), "dashboard": dashboard,
        "window": selectors.llm_stage_evidence(evaluation_report="", effective_challenge_id="",
                                               shadow_since=state.shadow_since, now=now),
        "charts": {"mix": llm_figures.to_html(llm_figures.verdict_mix_figure(dashboard["mix"])),
                   "rejections": llm_figures.to_html(llm_figures.rejections_figure(dashboard["days"],
                                                                                    dashboard["rejections"]))},
        "filter": reviews, "reviews": listed, "pager": review_pager, "decisions": decisions,
        "may_change": _may_change_llm(request.user), "stage_choices": _stage_choices(state.stage),
        "reason_words": REASONS,
    }, status=200 if valid else 400)


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
