"""Research pages: the runs list (the API's filters, plus the best candidate's figures sorted and
filtered in SQL), a run's evidence, and candidates compared side by side."""
from django.contrib.auth.decorators import login_required
from django.core.paginator import InvalidPage
from django.http import Http404
from django.shortcuts import render

from ledger import figures, selectors
from ledger.metrics import METRICS, STRESS_DEFINITIONS, stress_label
from ledger.models import ResearchCandidate, ResearchRun

COMPARE_MIN, COMPARE_MAX = 2, 4
CHART_MAX = 8  # series on a run's charts: the candidates with the highest net P&L (more are unreadable)


def _glossary() -> dict:
    return {"metrics": METRICS,
            "stress_cases": [(stress_label(case), text) for case, text in STRESS_DEFINITIONS.items()]}


@login_required
def run_list(request):
    raw_page = request.GET.get("page", "1")
    if not raw_page.isdigit() or int(raw_page) < 1:
        raise Http404(f"No page {raw_page!r}: pages are numbered from 1.")
    try:
        filterset, page = selectors.run_page(filters=request.GET, page_number=int(raw_page))
    except InvalidPage:
        raise Http404(f"No page {raw_page} of these runs.") from None
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    return render(request, "ledger/run_list.html", {
        "filter": filterset, "page": page, "query": query.urlencode(), "sort_query": sort_query.urlencode(),
        "sort": request.GET.get("sort", ""),
        "page_range": page.paginator.get_elided_page_range(page.number) if page is not None else [],
    }, status=200 if page is not None else 400)


def _charts(rows, *, fold_title: str = "Net P&L by fold (out of sample)") -> list[str]:
    fold_points, stress_points = selectors.figure_points(rows)
    charts = []
    if fold_points:
        charts += [figures.to_html(figures.fold_pnl_figure(fold_points, title=fold_title)),
                   figures.to_html(figures.fold_drawdown_figure(fold_points))]
    if stress_points:
        charts.append(figures.to_html(figures.stress_figure(stress_points)))
    return charts


@login_required
def run_detail(request, run_id: str):
    try:
        overview = selectors.run_overview(run_id=run_id)
    except ResearchRun.DoesNotExist:
        raise Http404(f"No run {run_id}") from None
    charted = overview["candidates"]
    if len(charted) > CHART_MAX:
        charted = sorted((c for c in charted if c.net_pnl is not None), key=lambda c: -c.net_pnl)[:CHART_MAX]
    return render(request, "ledger/run_detail.html", {
        **overview, "charts": _charts(charted), "charted": len(charted), "compare_min": COMPARE_MIN,
        "compare_max": COMPARE_MAX, **_glossary()})


@login_required
def compare(request):
    ids = request.GET.getlist("c")
    error = None
    distinct = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if len(distinct) < len(ids):
        error = "Each candidate may be chosen once (and not blank)."
    elif not COMPARE_MIN <= len(distinct) <= COMPARE_MAX:
        error = (f"Choose {COMPARE_MIN} to {COMPARE_MAX} candidates to compare; {len(distinct)} "
                 f"{'was' if len(distinct) == 1 else 'were'} chosen.")
    rows, status = [], 400
    if error is None:
        try:
            rows = selectors.candidates_compare(candidate_ids=distinct)
        except ResearchCandidate.DoesNotExist as exc:
            error, status = f"No candidate {exc} in the ledger.", 404
    context = {"error": error, "chosen": ids, "rows": rows, "compare_min": COMPARE_MIN, "compare_max": COMPARE_MAX,
               **_glossary()}
    if error is None:
        figs = [r["figures"] for r in rows]
        context["charts"] = _charts(figs, fold_title="Net P&L by fold, overlaid (out of sample)")
        gate_ids = list(dict.fromkeys(g.gate_id for r in rows if r["gates"] for g in r["gates"].gates))
        context["gate_rows"] = [(gate_id, [next((g for g in r["gates"].gates if g.gate_id == gate_id), None)
                                           if r["gates"] else None for r in rows]) for gate_id in gate_ids]
        cases = list(dict.fromkeys((s["case"], s["label"], s["definition"]) for f in figs for s in f.stress))
        context["stress_rows"] = [(label, definition, [next((s for s in f.stress if s["case"] == case), None)
                                                       for f in figs]) for case, label, definition in cases]
        names = list(dict.fromkeys(name for f in figs for name, _ in f.parameters))
        context["parameter_rows"] = [(name, [dict(f.parameters).get(name, "—") for f in figs]) for name in names]
    return render(request, "ledger/compare.html", context, status=status if error else 200)
