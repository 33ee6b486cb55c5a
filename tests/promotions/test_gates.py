"""Gate evaluation is a pure function of plain data: no database here."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from promotions import gates, selection

POLICIES = Path(__file__).resolve().parents[2] / "promotions" / "policies"
V3 = json.loads((POLICIES / "v3-gates-1.json").read_text())
V4 = json.loads((POLICIES / "v4-gates-1.json").read_text())


def make_inputs(*, candidates: int = 6, folds: int = 12, seed: int = 3, best_edge: float = 40.0) -> dict:
    """A run whose candidate ``c0`` earns ``best_edge`` per fold on top of noise; the rest are noise."""
    rng = np.random.default_rng(seed)
    fold_rows, cand_rows = [], []
    for j in range(candidates):
        cid = f"c{j}"
        cand_rows.append({"candidate_id": cid, "decision_count": 400, "trade_count": 120,
                          "symbols_covered": ["AAPL", "MSFT"], "parameter_set": {"k": j}})
        for k in range(folds):
            pnl = rng.normal(best_edge if j == 0 else 0.0, 10.0)
            fold_rows.append({"candidate_id": cid, "fold_order": k + 1, "fold_name": f"fold_{k + 1}",
                              "net_pnl": f"{pnl:.2f}", "gross_pnl": f"{pnl + 3:.2f}", "max_drawdown": "35.00",
                              "turnover_ratio": "2.10", "cost_bps": "6.5"})
    return {
        "run": {"run_id": "wf-1", "strategy_name": "macd_rsi", "status": "passed"},
        "feature_snapshot": {"snapshot_fingerprint": "sha256:" + "a" * 64, "schema_version": "3.0.0",
                             "null_rate": {"macd": "0.000", "rsi": "0.002"}, "staleness_ms_p95": 4200},
        "candidate": cand_rows[0],
        "candidates": cand_rows,
        "folds": fold_rows,
        "stress": [{"candidate_id": "c0", "stress_case": "spread", "net_pnl": "80.10"}],
        "operations": {"drills": {"kill_switch": {"id": 1, "age_hours": "2"}, "rollback": {"id": 2, "age_hours": "3"}},
                       "paper": {}, "llm": {}, "canary": {}, "live": {}},
    }


def by_id(result: dict) -> dict:
    return {g["gate_id"]: g for g in result["gates"]}


def test_expected_max_sharpe_matches_the_paper():
    # Bailey & López de Prado (2014): with 10 trials of unit variance the expected maximum is ~1.575.
    assert selection.expected_max_sharpe(trials=10, variance=1.0) == pytest.approx(1.5746, abs=1e-3)
    assert selection.expected_max_sharpe(trials=1, variance=1.0) == 0.0


def test_a_real_edge_keeps_a_high_deflated_sharpe_and_the_best_of_noise_does_not():
    real = gates.selection_bias(make_inputs(best_edge=40.0), V4["gates"]["gate6_selection_bias"])
    assert real["status"] == "pass" and float(real["observed"]["deflated_sharpe"]) > 0.95
    noise_inputs = make_inputs(best_edge=0.0, candidates=20, seed=11)
    # judge the candidate that happens to look best among pure noise
    pnl = {}
    for f in noise_inputs["folds"]:
        pnl[f["candidate_id"]] = pnl.get(f["candidate_id"], 0) + float(f["net_pnl"])
    lucky = max(pnl, key=pnl.get)
    noise_inputs["candidate"] = next(c for c in noise_inputs["candidates"] if c["candidate_id"] == lucky)
    noisy = gates.selection_bias(noise_inputs, V4["gates"]["gate6_selection_bias"])
    assert noisy["status"] == "fail"
    assert float(noisy["observed"]["deflated_sharpe"]) < 0.95
    assert any("deflated Sharpe ratio" in r for r in noisy["reasons"])


def test_pbo_is_near_zero_for_a_dominant_candidate_and_high_when_the_winner_reverses():
    rng = np.random.default_rng(5)
    dominant = rng.normal(0, 1, size=(16, 6))
    dominant[:, 2] += 10
    assert selection.probability_of_backtest_overfitting(dominant, partitions=16, min_candidates=4,
                                                         min_folds=8).value == 0.0
    # each candidate shines in one quarter of the folds and loses elsewhere: the in-sample winner is
    # exactly the one whose good quarter is in sample, so out of sample it ranks last
    reversing = np.full((16, 4), -1.0)
    for j in range(4):
        reversing[j * 4:(j + 1) * 4, j] = 3.0
    pbo = selection.probability_of_backtest_overfitting(reversing, partitions=16, min_candidates=4, min_folds=8)
    assert pbo.value > 0.5


def test_too_few_candidates_or_folds_is_inconclusive_never_pass():
    policy = V4["gates"]["gate6_selection_bias"]
    few = gates.selection_bias(make_inputs(candidates=2), policy)
    assert few["status"] == "inconclusive" and any("at least 4" in r for r in few["reasons"])
    short = gates.selection_bias(make_inputs(folds=5), policy)
    assert short["status"] == "inconclusive"
    result = gates.evaluate(target="paper", inputs=make_inputs(candidates=2), policy=V4)
    assert result["allowed"] is False and result["recommended_mode"] == "shadow"


def test_v3_paper_needs_gates_0_to_4_and_lists_observed_values_against_thresholds():
    result = gates.evaluate(target="paper", inputs=make_inputs(), policy=V3)
    assert [g["gate_id"] for g in result["gates"]] == V3["stage_requirements"]["paper"]
    assert result["allowed"] is True and result["recommended_mode"] == "paper"
    g2 = by_id(result)["gate2_risk_capacity"]
    assert g2["observed"]["max_drawdown"] == "35" and g2["thresholds"]["max_drawdown"] == "250"
    assert all(g["status"] == "pass" and g["reasons"] for g in result["gates"])


@pytest.mark.parametrize("mutate,gate_id,status", [
    (lambda i: i["feature_snapshot"].update(schema_version="2.9.0"), "gate0_data_integrity", "fail"),
    (lambda i: i["feature_snapshot"]["null_rate"].update(rsi="0.02"), "gate0_data_integrity", "fail"),
    (lambda i: [f.update(max_drawdown="300") for f in i["folds"][:1]], "gate2_risk_capacity", "fail"),
    (lambda i: i["operations"]["drills"].pop("rollback"), "gate4_operational_readiness", "fail"),
    (lambda i: i["operations"]["drills"]["kill_switch"].update(age_hours="73"), "gate4_operational_readiness",
     "fail"),
    (lambda i: i["operations"].update(llm={"reviews": 10, "errors": 2}), "gate3_shadow_paper_quality", "fail"),
    (lambda i: [f.update(net_pnl="-5.00") for f in i["folds"] if f["candidate_id"] == "c0"],
     "gate1_statistical_robustness", "fail"),
])
def test_each_gate_fails_on_its_own_evidence(mutate, gate_id, status):
    inputs = make_inputs()
    mutate(inputs)
    result = gates.evaluate(target="paper", inputs=inputs, policy=V3)
    assert by_id(result)[gate_id]["status"] == status
    assert result["allowed"] is False
    assert by_id(result)[gate_id]["reasons"]


def test_canary_needs_the_paper_evidence_window_and_live_needs_gate5():
    inputs = make_inputs()
    canary = gates.evaluate(target="canary", inputs=inputs, policy=V3)
    assert by_id(canary)["paper_evidence_window"]["status"] == "fail"
    assert canary["allowed"] is False and canary["recommended_mode"] == "paper"
    inputs["operations"]["paper"] = {"fills": 30, "days": 6, "slippage_bps": "4.2", "fallback_ratio": "0.05",
                                     "provenance_complete": True}
    assert gates.evaluate(target="canary", inputs=inputs, policy=V3)["allowed"] is True
    live = gates.evaluate(target="live", inputs=inputs, policy=V3)
    assert by_id(live)["gate5_live_ramp_readiness"]["status"] == "fail"
    inputs["operations"]["canary"] = {"days": 7, "fills": 40, "slippage_bps": "5"}
    inputs["operations"]["live"] = {"enabled": True}
    assert gates.evaluate(target="live", inputs=inputs, policy=V3)["allowed"] is True


def test_the_artifact_is_reproducible_and_names_every_input_row():
    inputs = make_inputs()
    one = gates.build_artifact(target="paper", inputs=inputs, policy=V4, policy_sha256="f" * 64,
                               evaluated_at="2026-12-01T00:00:00Z")
    two = gates.build_artifact(target="paper", inputs=copy.deepcopy(inputs), policy=V4, policy_sha256="f" * 64,
                               evaluated_at="2026-12-01T00:00:00Z")
    assert one == two
    assert "research_fold_metrics:c3/7" in one["inputs"] and "research_candidates:c5" in one["inputs"]
    tampered = copy.deepcopy(inputs)
    tampered["folds"][40]["net_pnl"] = "999.00"
    changed = gates.row_hashes(tampered)
    assert [k for k in changed if changed[k] != one["inputs"][k]] == [
        f"research_fold_metrics:{tampered['folds'][40]['candidate_id']}/{tampered['folds'][40]['fold_order']}"]
