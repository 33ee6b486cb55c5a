"""Gate evaluation: a pure function of (ledger rows, policy document, operational evidence).

Nothing here touches the database. :func:`build_artifact` takes plain JSON data — the rows the
service read, each as a dict — and returns the evaluation artifact: the schema version, the
policy version and sha256, the sha256 of every input row (keyed ``<table>:<key>``), and each
gate's outcome with observed values next to thresholds and reasons in words. The same inputs
always give the same artifact, byte for byte, so a stored evaluation can be replayed from the
stored rows and the stored policy alone (``promotions.replay``), offline too (the evidence
bundle carries the rows).

Outcomes are ``pass``, ``fail`` or ``inconclusive``; ``inconclusive`` never promotes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import numpy as np

from core.canonical import content_sha256, plain_rows_sha256
from promotions import selection

ARTIFACT_SCHEMA = "torghut.gate-evaluation/v1"
PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
STAGES = ("shadow", "paper", "canary", "live")
STAGE_RANK = {stage: rank for rank, stage in enumerate(STAGES)}
TARGETS = STAGES[1:]


# --- numbers as the artifact records them (strings: the same bytes on every machine) -----------

def num(value: Any, places: int = 6) -> str | None:
    """A reproducible decimal string for an observed value (floats rounded to ``places``)."""
    if value is None:
        return None
    if isinstance(value, float):
        if not np.isfinite(value):
            return None
        value = Decimal(repr(round(value, places)))
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in {"-0", ""} else text


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def gate(gate_id: str, checks: list[tuple[str, Any, Any, bool | None, str]], *,
         notes: Iterable[str] = ()) -> dict[str, Any]:
    """One gate from its checks: ``(name, observed, threshold, ok, reason)``; ``ok`` None = cannot judge."""
    reasons = [reason for _, _, _, ok, reason in checks if ok is not True] + list(notes)
    if any(ok is False for *_, ok, _ in checks):
        status = FAIL
    elif any(ok is None for *_, ok, _ in checks):
        status = INCONCLUSIVE
    else:
        status = PASS
        reasons = [reason for *_, reason in checks]
    return {"gate_id": gate_id, "status": status, "reasons": reasons,
            "observed": {name: observed for name, observed, *_ in checks},
            "thresholds": {name: threshold for name, _, threshold, *_ in checks}}


def at_most(name: str, observed: Any, limit: Any, what: str) -> tuple:
    if observed is None:
        return name, None, num(limit), None, f"{what}: no evidence recorded"
    ok = dec(observed) <= dec(limit)
    return name, num(observed), num(limit), ok, f"{what} {num(observed)} {'≤' if ok else '>'} {num(limit)}"


def at_least(name: str, observed: Any, floor: Any, what: str) -> tuple:
    if observed is None:
        return name, None, num(floor), None, f"{what}: no evidence recorded"
    ok = dec(observed) >= dec(floor)
    return name, num(observed), num(floor), ok, f"{what} {num(observed)} {'≥' if ok else '<'} {num(floor)}"


# --- the gates ---------------------------------------------------------------------------------

def _candidate_folds(inputs: dict) -> list[dict]:
    cid = inputs["candidate"]["candidate_id"]
    return sorted((f for f in inputs["folds"] if f["candidate_id"] == cid), key=lambda f: f["fold_order"])


def gate0_data_integrity(inputs: dict, p: dict) -> dict:
    snap, cand = inputs["feature_snapshot"], inputs["candidate"]
    worst = max((dec(v) for v in snap["null_rate"].values()), default=Decimal(0))
    version_ok = snap["schema_version"] == p["feature_schema_version"]
    return gate("gate0_data_integrity", [
        ("feature_schema_version", snap["schema_version"], p["feature_schema_version"], version_ok,
         f"feature schema {snap['schema_version']} {'is' if version_ok else 'is not'} {p['feature_schema_version']}"),
        at_most("max_null_rate", worst, p["max_null_rate"], "worst feature null rate"),
        at_most("staleness_ms_p95", snap["staleness_ms_p95"], p["max_staleness_ms_p95"], "feature staleness p95 (ms)"),
        at_least("symbols_covered", len(cand["symbols_covered"]), p["min_symbols"], "symbols covered"),
    ])


def gate1_statistical_robustness(inputs: dict, p: dict) -> dict:
    cand, folds = inputs["candidate"], _candidate_folds(inputs)
    if not folds:
        return gate("gate1_statistical_robustness", [("folds", 0, ">= 1", None, "the candidate has no folds")])
    pnl = [dec(f["net_pnl"]) for f in folds]
    total = sum(pnl, Decimal(0))
    negative = sum(1 for x in pnl if x < 0) / len(pnl)
    mean = float(total) / len(pnl)
    sd = float(np.std([float(x) for x in pnl], ddof=1)) if len(pnl) > 1 else 0.0
    if mean == 0:
        cv_check = ("fold_pnl_cv", None, num(p["max_fold_pnl_cv"]), None,
                    "the coefficient of variation of fold net P&L is undefined (mean 0)")
    else:
        cv_check = at_most("fold_pnl_cv", abs(sd / mean), p["max_fold_pnl_cv"],
                           "coefficient of variation of fold net P&L")
    return gate("gate1_statistical_robustness", [
        at_least("decision_count", cand["decision_count"], p["min_decisions"], "decisions"),
        at_least("trade_count", cand["trade_count"], p["min_trades"], "trades"),
        at_least("net_pnl", total, p["min_net_pnl"], "net P&L over the test folds"),
        at_most("negative_fold_ratio", negative, p["max_negative_fold_ratio"], "share of folds with a loss"),
        cv_check,
    ])


def gate2_risk_capacity(inputs: dict, p: dict) -> dict:
    folds = _candidate_folds(inputs)
    if not folds:
        return gate("gate2_risk_capacity", [("folds", 0, ">= 1", None, "the candidate has no folds")])
    return gate("gate2_risk_capacity", [
        at_most("max_drawdown", max(dec(f["max_drawdown"]) for f in folds), p["max_drawdown"],
                "worst fold drawdown"),
        at_most("turnover_ratio", max(dec(f["turnover_ratio"]) for f in folds), p["max_turnover_ratio"],
                "highest fold turnover ratio"),
        at_most("cost_bps", max(dec(f["cost_bps"]) for f in folds), p["max_cost_bps"], "highest fold cost (bps)"),
    ])


def gate3_shadow_paper_quality(inputs: dict, p: dict) -> dict:
    ops = inputs["operations"]
    llm, paper = ops.get("llm") or {}, ops.get("paper") or {}
    checks, notes = [], []
    if llm.get("reviews"):
        checks.append(at_most("llm_error_ratio", llm["errors"] / llm["reviews"], p["max_llm_error_ratio"],
                              "LLM review error ratio"))
    if paper.get("fills"):
        checks.append(at_most("paper_slippage_bps", paper.get("slippage_bps"), p["max_slippage_bps"],
                              "paper fill slippage against decision price (bps)"))
        checks.append(at_most("paper_fallback_ratio", paper.get("fallback_ratio"), p["max_fallback_ratio"],
                              "paper route fallback ratio"))
    if not checks:
        # Nothing recorded contradicts the strategy yet (no LLM reviews, no paper fills).
        checks.append(("recorded_evidence", "none", "none contradicting", True,
                       "no LLM reviews and no paper fills recorded: nothing contradicts it yet"))
    return gate("gate3_shadow_paper_quality", checks, notes=notes)


def gate4_operational_readiness(inputs: dict, p: dict) -> dict:
    drills = inputs["operations"].get("drills") or {}
    checks = []
    for kind in p["required_drills"]:
        drill = drills.get(kind)
        if drill is None:
            checks.append((f"{kind}_drill", None, f"passed within {p['drill_max_age_hours']} h", False,
                           f"no passed {kind.replace('_', '-')} drill within {p['drill_max_age_hours']} h"))
            continue
        age = dec(drill["age_hours"])
        ok = age <= dec(p["drill_max_age_hours"])
        checks.append((f"{kind}_drill", f"drill {drill['id']} passed {num(age, 2)} h ago",
                       f"passed within {p['drill_max_age_hours']} h", ok,
                       f"{kind.replace('_', '-')} drill {drill['id']} is {num(age, 2)} h old"))
    return gate("gate4_operational_readiness", checks)


def gate5_live_ramp_readiness(inputs: dict, p: dict) -> dict:
    canary, live = inputs["operations"].get("canary") or {}, inputs["operations"].get("live") or {}
    enabled = bool(live.get("enabled"))
    return gate("gate5_live_ramp_readiness", [
        ("live_enabled", enabled, True, enabled, "live trading is " + ("enabled" if enabled else "not enabled")),
        at_least("canary_days", canary.get("days"), p["min_canary_days"], "days at canary"),
        at_least("canary_fills", canary.get("fills"), p["min_canary_fills"], "canary fills"),
        at_most("canary_slippage_bps", canary.get("slippage_bps"), p["max_canary_slippage_bps"],
                "canary slippage against decision price (bps)"),
    ])


def paper_evidence_window(inputs: dict, p: dict) -> dict:
    paper = inputs["operations"].get("paper") or {}
    complete = paper.get("provenance_complete")
    return gate("paper_evidence_window", [
        at_least("paper_fills", paper.get("fills", 0), p["min_fills"], "paper fills"),
        at_least("paper_days", paper.get("days", 0), p["min_days"], "days with paper fills"),
        ("route_provenance_complete", bool(complete), True, bool(complete),
         "every paper execution records its expected and actual route" if complete
         else "some paper executions lack route provenance (or none exist)"),
        at_most("paper_slippage_bps", paper.get("slippage_bps"), p["max_slippage_bps"],
                "paper slippage against decision price (bps)"),
    ])


def selection_bias(inputs: dict, p: dict) -> dict:
    """Deflated Sharpe ratio of the candidate and PBO of its run (see :mod:`promotions.selection`)."""
    by_candidate: dict[str, dict[int, float]] = {}
    for f in inputs["folds"]:  # float(text) is float(Decimal(text)): both round the decimal correctly
        by_candidate.setdefault(f["candidate_id"], {})[f["fold_order"]] = float(f["net_pnl"])
    ids = sorted(by_candidate)
    common = sorted(set.intersection(*(set(v) for v in by_candidate.values()))) if ids else []
    matrix = np.array([[by_candidate[c][o] for c in ids] for o in common], dtype=float).reshape(
        len(common), len(ids))
    column = ids.index(inputs["candidate"]["candidate_id"]) if inputs["candidate"]["candidate_id"] in ids else 0
    dsr = selection.deflated_sharpe(matrix, column, min_candidates=p["min_candidates"], min_folds=p["min_folds"])
    pbo = selection.probability_of_backtest_overfitting(matrix, partitions=p["pbo_partitions"],
                                                        min_candidates=p["min_candidates"], min_folds=p["min_folds"])
    checks = [
        (at_least("deflated_sharpe", dsr.value, p["min_deflated_sharpe"], "deflated Sharpe ratio")
         if dsr.value is not None else ("deflated_sharpe", None, num(p["min_deflated_sharpe"]), None,
                                        f"deflated Sharpe ratio cannot be judged: {dsr.reason}")),
        (at_most("pbo", pbo.value, p["max_pbo"], "probability of backtest overfitting")
         if pbo.value is not None else ("pbo", None, num(p["max_pbo"]), None,
                                        f"probability of backtest overfitting cannot be judged: {pbo.reason}")),
    ]
    result = gate("gate6_selection_bias", checks)
    result["observed"]["trials"] = len(ids)
    result["observed"]["common_folds"] = len(common)
    for key, verdict in (("dsr", dsr), ("pbo", pbo)):
        for name, value in (verdict.detail or {}).items():
            result["observed"][f"{key}_{name}"] = num(value) if isinstance(value, float) else value
    return result


GATES: dict[str, Callable[[dict, dict], dict]] = {
    "gate0_data_integrity": gate0_data_integrity,
    "gate1_statistical_robustness": gate1_statistical_robustness,
    "gate2_risk_capacity": gate2_risk_capacity,
    "gate3_shadow_paper_quality": gate3_shadow_paper_quality,
    "gate4_operational_readiness": gate4_operational_readiness,
    "gate5_live_ramp_readiness": gate5_live_ramp_readiness,
    "gate6_selection_bias": selection_bias,
    "paper_evidence_window": paper_evidence_window,
}


def evaluate(*, target: str, inputs: dict, policy: dict) -> dict[str, Any]:
    """Every gate the policy requires for ``target``; ``allowed`` only when all pass."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}")
    required = policy["stage_requirements"][target]
    gates = [GATES[gate_id](inputs, policy["gates"][gate_id]) for gate_id in required]
    status = {g["gate_id"]: g["status"] for g in gates}
    recommended = "shadow"
    for stage in TARGETS[:TARGETS.index(target) + 1]:
        if all(status.get(g) == PASS for g in policy["stage_requirements"][stage]):
            recommended = stage
        else:
            break
    return {"gates": gates, "allowed": all(s == PASS for s in status.values()), "recommended_mode": recommended}


# --- the artifact ------------------------------------------------------------------------------

def row_hashes(inputs: dict) -> dict[str, str]:
    """sha256 of every ledger row the evaluation read, keyed ``<table>:<key>``, plus the evidence."""
    out = {f"research_runs:{inputs['run']['run_id']}": content_sha256(inputs["run"]),
           f"research_feature_snapshots:{inputs['feature_snapshot']['snapshot_fingerprint']}":
               content_sha256(inputs["feature_snapshot"])}
    for cand in inputs["candidates"]:
        out[f"research_candidates:{cand['candidate_id']}"] = content_sha256(cand)
    folds = inputs["folds"]  # 10,000 rows for a search of 50 candidates x 200 folds: the fast path
    out.update(zip([f"research_fold_metrics:{f['candidate_id']}/{f['fold_order']}" for f in folds],
                   plain_rows_sha256(folds), strict=True))
    for stress in inputs["stress"]:
        out[f"research_stress_metrics:{stress['candidate_id']}/{stress['stress_case']}"] = content_sha256(stress)
    out["operations"] = content_sha256(inputs["operations"])
    return out


def build_artifact(*, target: str, inputs: dict, policy: dict, policy_sha256: str, evaluated_at: str) -> dict:
    """The evaluation artifact (canonical JSON of it is what gets hashed and signed)."""
    result = evaluate(target=target, inputs=inputs, policy=policy)
    return {
        "schema_version": ARTIFACT_SCHEMA,
        "candidate_id": inputs["candidate"]["candidate_id"],
        "run_id": inputs["run"]["run_id"],
        "strategy": inputs["run"]["strategy_name"],
        "target": target,
        "policy_version": policy["version"],
        "policy_sha256": policy_sha256,
        "evaluated_at": evaluated_at,
        "inputs": row_hashes(inputs),
        **result,
    }


# --- policy documents --------------------------------------------------------------------------

POLICY_SCHEMA = "torghut.gate-policy/v1"


def policy_problems(document: Any) -> dict[str, list[str]]:
    """What is wrong with a policy document, by field path (empty when it can be used)."""
    problems: dict[str, list[str]] = {}

    def bad(path: str, message: str) -> None:
        problems.setdefault(path, []).append(message)

    if not isinstance(document, dict):
        return {"(root)": ["a policy is a JSON object"]}
    if document.get("schema_version") != POLICY_SCHEMA:
        bad("schema_version", f"must be {POLICY_SCHEMA!r}")
    version = document.get("version")
    if not isinstance(version, str) or not version or len(version) > 64 or not all(
            c.isalnum() or c in "._-" for c in version):
        bad("version", "1-64 characters of [A-Za-z0-9._-]")
    requirements, params = document.get("stage_requirements"), document.get("gates")
    if not isinstance(requirements, dict) or set(requirements) != set(TARGETS):
        bad("stage_requirements", f"must name exactly the targets {', '.join(TARGETS)}")
        requirements = {}
    if not isinstance(params, dict):
        bad("gates", "must map gate ids to their thresholds")
        params = {}
    previous: set[str] = set()
    for target in TARGETS:
        required = requirements.get(target)
        if required is None:
            continue
        if not isinstance(required, list) or not required:
            bad(f"stage_requirements.{target}", "a non-empty list of gate ids")
            continue
        for gate_id in required:
            if gate_id not in GATES:
                bad(f"stage_requirements.{target}", f"unknown gate {gate_id!r}; known: {', '.join(GATES)}")
            elif not isinstance(params.get(gate_id), dict):
                bad(f"gates.{gate_id}", "thresholds missing for a required gate")
        if not previous <= set(required):
            bad(f"stage_requirements.{target}", "must include every gate of the stage below")
        previous = set(required)
    caps = document.get("canary_caps")
    if not isinstance(caps, dict) or not {"max_notional_per_order", "max_notional_per_day"} <= set(caps):
        bad("canary_caps", "max_notional_per_order and max_notional_per_day are required")
    age = document.get("evaluation_max_age_hours")
    if not isinstance(age, int) or isinstance(age, bool) or age <= 0:
        bad("evaluation_max_age_hours", "a positive whole number of hours")
    return problems
