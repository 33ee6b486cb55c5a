"""Pages of the autonomous lane: its cycles with their stages (``/autonomy/lane/``), one cycle, and an
operator's resume of a paused lane behind a confirmation page."""
from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from access.choices import Via
from access.roles import Role
from access.selectors import user_has_role, user_roles
from autonomy import lane_selectors, lane_services
from autonomy.filters import LaneCycleFilter
from core.errors import ApplicationError
from core.pagination import paginate


def may_resume(user) -> bool:
    """Operators resume the lane; a principal holding the agent role never does (the service refuses it)."""
    return user_has_role(user, Role.OPERATOR) and Role.AGENT not in user_roles(user)


def _stage_rows(cycle) -> list[dict]:
    return [{"row": s, "title": lane_services.STEP_TITLES.get(s.stage, s.stage), "links": _links(s.detail),
             "detail_json": json.dumps(s.detail, indent=1, sort_keys=True) if s.detail else ""}
            for s in cycle.stages.all()]


def _url(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _links(detail: dict) -> list[dict]:
    """The rows a stage wrote or read, each with the page that shows it."""
    links = []
    for run in detail.get("runs") or []:
        links.append({"text": f"run {run['run_id']} ({run['strategy']}, {len(run['candidate_ids'])} candidates)",
                      "url": _url("ledger:run-detail", run["run_id"])})
    for item in (detail.get("filed") or []) + (detail.get("rolled_back") or []):
        if item.get("promotion_id"):
            verb = "rolled back" if "stage_after" in item else f"handoff → {item.get('target')}"
            links.append({"text": f"promotion #{item['promotion_id']} of {item['strategy']} ({verb})",
                          "url": _url("promotions:detail", item["promotion_id"])})
    return links


@login_required
def lane_index(request):
    """The lane's health and its cycles, newest first (filtered like ``GET /api/v1/autonomy/lane/cycles``)."""
    filterset = LaneCycleFilter(request.GET, queryset=lane_selectors.lane_cycle_list().select_related("dataset"))
    valid = filterset.is_valid()
    rows, pager = paginate(request.GET, filterset.qs if valid else filterset.qs.none(), per_page=25)
    return render(request, "autonomy/lane.html", {
        "health": lane_selectors.lane_health(now=timezone.now()), "filter": filterset, "valid": valid,
        "cycles": [{"cycle": c, "stages": _stage_rows(c)} for c in rows], "pager": pager,
        "may_resume": may_resume(request.user), "feed": lane_services.lane_feed_source(),
    }, status=200 if valid else 400)


@login_required
def lane_cycle(request, cycle_id: int):
    cycle = lane_selectors.lane_cycle_get(cycle_id=cycle_id)
    if cycle is None:
        raise Http404(f"No lane cycle #{cycle_id}.")
    return render(request, "autonomy/lane_cycle.html", {"cycle": cycle, "stages": _stage_rows(cycle)})


@login_required
def lane_resume(request):
    """The confirmation page of a resume: why the lane paused, and a reason. Operators only."""
    health = lane_selectors.lane_health(now=timezone.now())
    if not may_resume(request.user):
        return render(request, "autonomy/lane_resume.html", {"health": health, "refused": True}, status=403)
    problems: list[str] = []
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            lane_services.lane_resume(actor=request.user.get_username(), roles=user_roles(request.user),
                                      reason=request.POST.get("reason", "")[:2000], via=Via.PAGE)
        except ApplicationError as exc:
            problems = [exc.message]
        else:
            messages.success(request, "The lane runs again from its next cycle.")
            return redirect("autonomy:lane")
    return render(request, "autonomy/lane_resume.html", {"health": health, "problems": problems,
                                                         "posted": request.POST},
                  status=400 if problems else 200)
