"""Promotions pages: the pipeline board, a promotion's evidence chain, and the gate policies."""
import json

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from core.pagination import paginate
from ledger import figures
from promotions import selectors
from promotions.models import GatePolicy, Promotion
from promotions.policy_diff import policy_diff
from strategies.choices import STAGES


@login_required
def pipeline(request):
    """The board; ``?stage=`` keeps the strategies at that stage, ``?pending=true`` those with a promotion
    waiting for approval (what the first screen's figures count). A value it cannot read is an error."""
    rows = selectors.pipeline_rows()
    stage, pending = request.GET.get("stage", ""), request.GET.get("pending", "")
    errors = {}
    if stage and stage not in STAGES:
        errors["stage"] = f"Choose one of {', '.join(STAGES)}."
    if pending not in ("", "true", "false"):
        errors["pending"] = "Enter true or false."
    if stage and "stage" not in errors:
        shown = [r for r in rows if r["stage"] == stage]
    else:
        shown = rows
    if pending and "pending" not in errors:
        shown = [r for r in shown if bool(r["pending"]) == (pending == "true")]
    recent, pager = paginate(request.GET, selectors.promotion_list(), per_page=25, anchor="promotions")
    return render(request, "promotions/pipeline.html", {
        "rows": shown, "all_count": len(rows), "stages": STAGES, "pending_total": sum(r["pending"] for r in rows),
        "stage": stage, "pending": pending, "errors": errors, "filtered": bool(stage or pending),
        "recent": recent, "pager": pager}, status=400 if errors else 200)


@login_required
def promotion_detail(request, promotion_id: int):
    try:
        promotion = selectors.promotion_get(promotion_id=promotion_id)
    except Promotion.DoesNotExist:
        raise Http404(f"No promotion #{promotion_id}") from None
    replay = selectors.promotion_replay(promotion=promotion)
    decisions = list(promotion.decisions.order_by("id"))
    chart = figures.to_html(figures.fold_pnl_figure(selectors.fold_points(candidate=promotion.candidate)))
    return render(request, "promotions/promotion_detail.html", {
        "promotion": promotion, "evaluation": promotion.evaluation, "artifact": promotion.evaluation.artifact,
        "decisions": decisions, "replay": replay, "chart": chart})


@login_required
def policy_list(request):
    policies = list(selectors.policy_list())
    active = selectors.policy_active()
    versions = [p.version for p in policies]
    a = request.GET.get("a") or (versions[1] if len(versions) > 1 else None)
    b = request.GET.get("b") or (versions[0] if versions else None)
    diff, errors = [], {}
    by_version = {p.version: p for p in policies}
    for key, value in (("a", a), ("b", b)):
        if value and value not in by_version:
            errors[key] = f"No policy version {value!r}."
    if a in by_version and b in by_version and not errors:
        diff = [(path, None if old is None else json.dumps(old), None if new is None else json.dumps(new))
                for path, old, new in policy_diff(by_version[a].document, by_version[b].document)]
    return render(request, "promotions/policy_list.html", {
        "policies": policies, "active": active, "a": a, "b": b, "diff": diff, "errors": errors,
        "versions": versions, "count": GatePolicy.objects.count()})
