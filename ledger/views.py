"""Research pages: the runs list (filters shared with the API) and a run's evidence."""
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from ledger import figures, selectors
from ledger.models import ResearchRun


@login_required
def run_list(request):
    try:
        before = int(request.GET.get("before", "")) or None
    except ValueError:
        before = None
    filterset, runs, pager = selectors.run_page(filters=request.GET, before=before)
    return render(request, "ledger/run_list.html", {"filter": filterset, "runs": runs, "pager": pager})


@login_required
def run_detail(request, run_id: str):
    try:
        run = selectors.run_get_with_rows(run_id=run_id)
    except ResearchRun.DoesNotExist:
        raise Http404(f"No run {run_id}") from None
    fold_points, stress_points = selectors.run_figure_points(run)
    charts = []
    if fold_points:
        charts += [figures.to_html(figures.fold_pnl_figure(fold_points)),
                   figures.to_html(figures.fold_drawdown_figure(fold_points))]
    if stress_points:
        charts.append(figures.to_html(figures.stress_figure(stress_points)))
    return render(request, "ledger/run_detail.html", {"run": run, "charts": charts})
