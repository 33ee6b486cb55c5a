"""Autonomy pages: the control flags as they stand, and the alerts."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponseForbidden, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from access.choices import Via
from access.roles import Role
from access.selectors import user_has_role, user_roles
from autonomy import selectors, services
from autonomy.filters import AlertFilter
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
