"""Research you can analyse: the runs list sorted and filtered by the best candidate's figures, the
run page's summary, candidates compared side by side, one name and sign per metric."""
from __future__ import annotations

import json
import re

import pytest

from ledger import selectors, services
from ledger.models import RunSummary
from tests.ledger.factories import ArtifactFactory, CandidateArtifactFactory, FoldFactory, RunFactory

pytestmark = pytest.mark.django_db


def candidate(cid: str, pnl: list[float], *, sharpe: str = "1.00", drawdown: str = "35.00", **params) -> dict:
    return CandidateArtifactFactory(
        candidate_id=cid, parameter_set=params or {"lookback": 20, "z": 1.5},
        folds=[FoldFactory(index=i, net_pnl=f"{v:.2f}", sharpe=sharpe, max_drawdown=drawdown)
               for i, v in enumerate(pnl)])


def run(run_id: str, *cands: dict, strategy: str = "macd_rsi"):
    return RunFactory(body=ArtifactFactory(run_id=run_id, candidates=list(cands),
                                           strategy={"name": strategy, "version": "1", "type": "plugin_v3"}))


def shown_runs(html: str) -> list[str]:
    return re.findall(r'<td class="nowrap"><a href="/research/runs/([^/]+)/">', html)


@pytest.fixture
def three_runs():
    run("wf-low", candidate("c-low", [10, 10, 10], sharpe="0.50", drawdown="80.00"))
    run("wf-high", candidate("c-high", [5, 5, 5], sharpe="2.50", drawdown="20.00"))
    run("wf-mid", candidate("c-mid-a", [1, 1, 1], sharpe="9.00"),                      # not the best of its run
        candidate("c-mid-b", [40, 40, 40], sharpe="1.50", drawdown="50.00", lookback=50, z=2.5))


@pytest.fixture
def policy_v4(settings, tmp_path):
    from promotions.management.commands.gate_policy import SHIPPED
    from promotions.services import policy_activate, policy_load

    for path in sorted(SHIPPED.glob("*.json")):
        policy_load(document=json.loads(path.read_text()), actor="test")
    policy_activate(version="v4-gates-1", actor="test", reason="selection bias judged")


def test_best_candidate_is_the_highest_net_pnl_and_its_figures_are_stored(three_runs):
    summary = RunSummary.objects.select_related("best_candidate").get(run__run_id="wf-mid")
    assert summary.best_candidate.candidate_id == "c-mid-b"
    assert (summary.net_pnl, summary.sharpe, summary.max_drawdown) == (120, 1.5, 50)
    assert summary.candidate_count == 2 and summary.fold_count == 3


def test_runs_list_sorts_by_sharpe_both_ways(browser, three_runs):
    html = browser.get("/research/", {"sort": "-sharpe"}).content.decode()
    assert shown_runs(html) == ["wf-high", "wf-mid", "wf-low"]
    assert shown_runs(browser.get("/research/", {"sort": "sharpe"}).content.decode()) == ["wf-low", "wf-mid", "wf-high"]
    # the header links toggle the direction and keep the other filters
    html = browser.get("/research/", {"sort": "-sharpe", "status": "passed"}).content.decode()
    assert 'href="?status=passed&amp;sort=sharpe"' in html


@pytest.mark.parametrize(("sort", "expected"), [
    ("-net_pnl", ["wf-mid", "wf-low", "wf-high"]),
    ("max_drawdown", ["wf-high", "wf-mid", "wf-low"]),
    ("", ["wf-mid", "wf-high", "wf-low"]),             # newest first
])
def test_runs_list_sorts_by_other_columns(browser, three_runs, sort, expected):
    assert shown_runs(browser.get("/research/", {"sort": sort}).content.decode()) == expected


def test_runs_list_filters_on_the_best_candidates_figures(browser, three_runs):
    assert shown_runs(browser.get("/research/", {"net_pnl_min": "30"}).content.decode()) == ["wf-mid", "wf-low"]
    assert shown_runs(browser.get("/research/", {"max_drawdown_max": "50"}).content.decode()) == ["wf-mid", "wf-high"]
    assert shown_runs(browser.get("/research/", {"sharpe_min": "1", "sort": "-sharpe"}).content.decode()) == [
        "wf-high", "wf-mid"]


def test_invalid_sort_and_filter_values_are_errors_next_to_their_field(browser, three_runs):
    response = browser.get("/research/", {"sort": "sharpe; drop table", "sharpe_min": "high", "pbo_max": "2"})
    assert response.status_code == 400
    html = response.content.decode()
    for field in ("sort", "sharpe_min", "pbo_max"):
        label = re.search(rf'<label class="invalid">[^<]*<[^>]*name="{field}".*?</label>', html, re.S)
        assert label is not None, field
        assert 'class="error field-error"' in label.group(0)
    assert "Select a valid choice" in html and "Enter a number" in html
    assert "less than or equal to 1" in html
    assert shown_runs(html) == []  # nothing silently shown unfiltered


def test_runs_list_is_three_queries_whatever_the_page(django_assert_num_queries, three_runs):
    for number in (1, 2):
        with django_assert_num_queries(3):  # the count, the page's ids, their runs with summaries and best candidates
            _, page = selectors.run_page(filters={"sort": "-net_pnl", "status": "passed"}, page_number=number, size=2)
            shown = [(r.run_id, r.summary.best_candidate.parameter_set, r.summary.pbo) for r in page.object_list]
        assert [run_id for run_id, *_ in shown] == (["wf-mid", "wf-low"] if number == 1 else ["wf-high"])


def test_deflated_sharpe_and_pbo_are_those_of_the_policys_gate(policy_v4):
    from ledger.selectors import candidate_evidence_rows
    from promotions import gates
    from promotions.selectors import policy_active

    pnl = [[12, -3, 8, 5, 9, -1, 7, 4], [3, 2, -6, 1, 0, 4, -2, 5], [9, 9, -8, 2, 6, 3, 1, -4],
           [1, 1, 2, 1, 2, 3, -1, 0]]
    run("wf-sel", *[candidate(f"c-sel-{i}", p, lookback=10 * (i + 1)) for i, p in enumerate(pnl)])
    summary = RunSummary.objects.get(run__run_id="wf-sel")
    assert summary.best_candidate.candidate_id == "c-sel-0" and summary.selection_policy == "v4-gates-1"
    inputs = {**candidate_evidence_rows(candidate_id="c-sel-0"), "operations": {}}
    gate = gates.selection_bias(inputs, policy_active().document["gates"]["gate6_selection_bias"])
    assert gates.num(summary.deflated_sharpe) == gate["observed"]["deflated_sharpe"]
    assert gates.num(summary.pbo) == gate["observed"]["pbo"]


def test_policy_without_selection_gate_leaves_dsr_and_pbo_blank_and_says_why(browser, three_runs):
    summary = RunSummary.objects.get(run__run_id="wf-mid")
    assert summary.deflated_sharpe is None and summary.pbo is None
    assert summary.selection_note == "no gate policy is active"
    html = browser.get("/research/").content.decode()
    assert 'title="no gate policy is active"' in html


def test_summaries_follow_the_active_policy_when_refreshed(policy_v4):
    from promotions.services import policy_activate

    run("wf-refresh", *[candidate(f"c-ref-{i}", [i + 1, 2 * i - 3, 4, -1, 3, i, 2, 1], lookback=i) for i in range(4)])
    assert RunSummary.objects.get(run__run_id="wf-refresh").pbo is not None
    policy_activate(version="v3-gates-1", actor="test", reason="back to torghut's matrix")
    assert services.run_summaries_refresh() == 1
    refreshed = RunSummary.objects.get(run__run_id="wf-refresh")
    assert refreshed.pbo is None and refreshed.selection_note == "policy v3-gates-1 does not judge selection bias"


def test_run_page_opens_with_a_summary_and_names_parameters(browser, policy_v4):
    run("wf-page", candidate("c-p-a", [1, 2, 3], lookback=20, z=1.5),
        candidate("c-p-b", [9, 9, 9], drawdown="35.00", lookback=50, z=2.5))
    html = browser.get("/research/runs/wf-page/").content.decode()
    summary = html[html.index('id="summary-h"'):html.index('id="cands-h"')]
    assert 'href="#cand-c-p-b"><strong>lookback=50, z=2.5</strong>' in summary
    assert "27.00" in summary                                       # its net P&L
    assert "gate0_data_integrity" in summary and "Policy <strong>v4-gates-1</strong>" in summary
    assert "Impact ×3" in summary                                   # its stress deltas, by their one name
    # a table of contents with anchors, and each candidate's section
    assert 'href="#cand-c-p-a">lookback=20, z=1.5</a>' in html and 'id="cand-c-p-a"' in html
    # parameters are a table, not a Python dict
    assert '<th scope="row">lookback</th><td>50</td>' in html and "{&#x27;lookback" not in html
    # folds behind a disclosure
    assert '<details class="folds">' in html


def _plotly_traces(html: str) -> list[dict]:
    traces = []
    for blob in re.findall(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*\{", html, re.S):
        traces += json.loads(blob)
    return traces


def test_charts_name_parameters_and_use_the_tables_names_and_signs(browser):
    run("wf-chart", candidate("c-ch-a", [1, 2, 3], drawdown="35.00", lookback=20, z=1.5),
        candidate("c-ch-b", [4, 5, 6], lookback=50, z=2.5))
    html = browser.get("/research/runs/wf-chart/").content.decode()
    traces = _plotly_traces(html)
    assert {t["name"] for t in traces} == {"lookback=20, z=1.5", "lookback=50, z=2.5"}
    drawdowns = [t for t in traces if t.get("mode") == "lines+markers" and 35.0 in t["y"]]
    assert drawdowns and all(v > 0 for t in drawdowns for v in t["y"])     # positive, as in the table
    stress = [t for t in traces if t["type"] == "bar"]
    assert stress[0]["x"] == ["Spread ×2", "Volatility shock", "Impact ×3", "Halt gap"]
    assert "liquidity" not in json.dumps([t["x"] for t in stress])
    assert stress[0]["y"][2] == -11.25                                       # = the table's stress Δ
    # definitions on hover: what the fold Sharpe is annualised over, what each stress case does
    assert "× √252 (trading days a year)" in html
    assert 'title="The same positions re-costed with the market-impact coefficient × 3."' in html


def test_compare_two_candidates_from_two_runs(browser, policy_v4):
    run("wf-cmp-1", candidate("c-cmp-1", [1, 2, 3], lookback=20, z=1.5))
    run("wf-cmp-2", candidate("c-cmp-2", [3, 3, 3], lookback=20, z=1.5), strategy="tsmom")
    response = browser.get("/research/compare/", {"c": ["c-cmp-1", "c-cmp-2"]})
    assert response.status_code == 200
    html = response.content.decode()
    # the same parameters in two runs: the legend says which run
    assert "lookback=20, z=1.5 · wf-cmp-1" in html and "lookback=20, z=1.5 · wf-cmp-2" in html
    assert '<th scope="row" class="mono">lookback</th><td>20</td><td>20</td>' in html
    assert re.search(r"Impact ×3</abbr></th><td class=\"num\">-11.25</td><td class=\"num\">-11.25</td>", html)
    assert "gate1_statistical_robustness" in html and "v4-gates-1, judged now" in html
    traces = _plotly_traces(html)
    overlaid = [t for t in traces if t.get("mode") == "lines+markers" and t["y"] in ([1, 2, 3], [3, 3, 3])]
    assert {t["name"] for t in overlaid} == {"lookback=20, z=1.5 · wf-cmp-1", "lookback=20, z=1.5 · wf-cmp-2"}


@pytest.mark.parametrize(("chosen", "status", "message"), [
    (["c-x-1"], 400, "Choose 2 to 4 candidates to compare; 1 was chosen."),
    ([], 400, "Choose 2 to 4 candidates to compare; 0 were chosen."),
    (["c-x-1", "c-x-2", "c-x-3", "c-x-4", "c-x-5"], 400, "Choose 2 to 4 candidates to compare; 5 were chosen."),
    (["c-x-1", "c-x-1"], 400, "Each candidate may be chosen once"),
    (["c-x-1", "nope"], 404, "No candidate nope in the ledger."),
])
def test_compare_refuses_a_wrong_choice_clearly(browser, chosen, status, message):
    run("wf-x", *[candidate(f"c-x-{i}", [i, i, i], lookback=i) for i in range(1, 6)])
    response = browser.get("/research/compare/", {"c": chosen})
    assert response.status_code == status
    assert message in response.content.decode()


def test_every_stress_case_has_one_name_and_a_definition():
    from ledger.choices import StressCase
    from ledger.metrics import STRESS_DEFINITIONS, stress_label

    assert set(STRESS_DEFINITIONS) == set(StressCase.values)
    assert stress_label("liquidity") == "Impact ×3"


def test_a_walk_forward_candidate_shows_the_parameters_each_fold_chose(browser):
    wf = {"selection": "walk_forward", "objective": "max_train_net_pnl", "tie_break": "grid_order",
          "grid": [{"lookback": 20, "short": False}, {"lookback": 60, "short": True}],
          "chosen": {"fold_1": {"lookback": 20, "short": False}, "fold_2": {"lookback": 60, "short": True}}}
    run("wf-chosen", CandidateArtifactFactory(candidate_id="c-wf", parameter_set=wf, folds=[
        FoldFactory(index=0), FoldFactory(index=1)]), candidate("c-fixed", [1, 1], lookback=20, short=False))
    html = browser.get("/research/runs/wf-chosen/").content.decode()
    assert "walk-forward (best of 2 on train)" in html and "lookback=20, short=false" in html
    assert "<th>Parameters chosen on train</th>" in html
    assert re.search(r"<td>fold_2</td>.*?<td class=\"nowrap\">lookback=60, short=true</td>", html, re.S)
    assert '<th scope="row">grid</th><td>lookback=20, short=false | lookback=60, short=true</td>' in html


def test_activating_a_policy_refreshes_the_summaries_in_the_background(policy_v4, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    from django.utils.module_loading import import_string

    from promotions.services import policy_activate

    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, **kw: queued.append(func) or import_string(func)())
    policy_activate(version="v3-gates-1", actor="test", reason="torghut's matrix")
    run("wf-bg", *[candidate(f"c-bg-{i}", [i + 1, 2 * i - 3, 4, -1, 3, i, 2, 1], lookback=i) for i in range(4)])
    assert RunSummary.objects.get(run__run_id="wf-bg").pbo is None
    with django_capture_on_commit_callbacks(execute=True):
        policy_activate(version="v4-gates-1", actor="test", reason="selection bias judged")
    assert queued == ["ledger.tasks.run_summaries_refresh"]
    summary = RunSummary.objects.get(run__run_id="wf-bg")
    assert summary.pbo is not None and summary.selection_policy == "v4-gates-1"


def test_summarise_runs_lists_a_run_stored_around_the_writer_again(browser, three_runs):
    from io import StringIO

    from django.core.management import call_command

    RunSummary.objects.filter(run__run_id="wf-low").delete()
    assert "wf-low" not in shown_runs(browser.get("/research/").content.decode())
    out = StringIO()
    call_command("summarise_runs", "--missing", stdout=out)
    assert out.getvalue() == "1 run summaries refreshed\n"
    assert RunSummary.objects.get(run__run_id="wf-low").net_pnl == 30
    assert shown_runs(browser.get("/research/").content.decode()) == ["wf-mid", "wf-high", "wf-low"]


def test_a_run_without_candidates_says_so(browser):
    RunFactory(body=ArtifactFactory(run_id="wf-empty", status="skipped", candidates=[]))
    html = browser.get("/research/runs/wf-empty/").content.decode()
    assert "This run holds no candidates (skipped)." in html
    assert RunSummary.objects.get(run__run_id="wf-empty").selection_note == "the run has no candidates"
    assert shown_runs(browser.get("/research/", {"sort": "-sharpe"}).content.decode()) == ["wf-empty"]  # blanks last


def test_a_large_search_charts_its_best_candidates_and_formats_folds_as_the_tables_do(browser):
    run("wf-many", *[CandidateArtifactFactory(candidate_id=f"c-many-{i:02d}", parameter_set={"lookback": i}, folds=[
        FoldFactory(index=j, net_pnl=pnl) for j, pnl in enumerate([f"{i}.005", "-1.005", "2"])]) for i in range(10)])
    html = browser.get("/research/runs/wf-many/").content.decode()
    names = {t["name"] for t in _plotly_traces(html)}
    assert names == {f"lookback={i}" for i in range(2, 10)}
    assert "The charts show the 8 candidates with the highest" in html
    assert '<td class="num">9.01</td><td class="num">35.00</td>' in html         # 9.005 half up, as floatformat
    assert '<td class="num">-1.01</td>' in html
    assert '<td class="nowrap">2026-01-05 → 2026-01-09</td>' in html
