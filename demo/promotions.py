"""The demo's promotion story: research lanes record runs, drills are rehearsed, evaluations are
signed, AgentRuns are handed off and approvers decide, through the same services the API uses.

Timeline (trading days of the simulated clock that ``demo.services.demo_executions`` replays):

* day 0: three lane strategies (``breakout``, ``pairs_revert``, ``vol_carry``) are promoted to
  paper under ``v4-gates-1``; the walk-forward strategies (``macd_rsi``, ``tsmom``) are evaluated
  too and stay at shadow (their evaluations are on record, refused);
* day 6: ``breakout`` goes to canary on its paper evidence; ``pairs_revert``'s canary request is
  rejected by an approver;
* day 12: ``breakout`` goes live with two approvals; ``vol_carry``'s canary request is left
  pending approval for the operator to see.
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.test import override_settings

from access.roles import Role
from access.services import principal_create
from ledger.services import run_ingest
from promotions import selectors, services
from promotions.management.commands.gate_policy import SHIPPED

LANES = [  # (strategy, seed, the best candidate's edge per fold)
    ("breakout", 101, 45.0),
    ("pairs_revert", 202, 38.0),
    ("vol_carry", 303, 42.0),
]
WALK_FORWARD = ["macd_rsi", "tsmom"]
AGENT, OPERATOR, APPROVER, SECOND_APPROVER = "demo-agent", "demo", "demo", "demo-approver-2"
DEMO_POLICY = "v4-gates-1"


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def lane_artifact(strategy: str, seed: int, edge: float, start) -> dict:
    """A research lane's run: six parameter sets over sixteen weekly test folds, the first with an edge."""
    rng = random.Random(seed)
    fingerprint = "sha256:" + f"{seed:064x}"
    candidates = []
    for c in range(6):
        folds = []
        for k in range(16):
            train_start = start + timedelta(days=7 * k)
            test_start = train_start + timedelta(days=5)
            net = rng.gauss(edge if c == 0 else rng.uniform(-8, 12), 22)
            folds.append({
                "name": f"fold_{k + 1}", "order": k + 1, "train_start": _iso(train_start),
                "train_end": _iso(train_start + timedelta(days=4, hours=6)), "test_start": _iso(test_start),
                "test_end": _iso(test_start + timedelta(days=1, hours=6)), "decision_count": rng.randint(30, 60),
                "trade_count": rng.randint(8, 20), "gross_pnl": f"{net + 9:.2f}", "net_pnl": f"{net:.2f}",
                "max_drawdown": f"{rng.uniform(20, 120):.2f}", "turnover_ratio": f"{rng.uniform(1, 4):.2f}",
                "cost_bps": f"{rng.uniform(4, 12):.1f}", "sharpe": f"{net / 22:.2f}",
                "regime_label": rng.choice(["vol=mid|trend=up|liq=liquid", "vol=low|trend=flat|liq=liquid",
                                            "vol=high|trend=down|liq=liquid"])})
        total = sum(float(f["net_pnl"]) for f in folds)
        candidates.append({
            "candidate_id": f"lane-{strategy}-c{c}",
            "parameter_set": {"lookback": 10 + 5 * c, "threshold": f"{0.5 + c / 10:.1f}"},
            "decision_count": sum(f["decision_count"] for f in folds),
            "trade_count": sum(f["trade_count"] for f in folds), "symbols": ["AAPL", "MSFT", "NVDA", "SPY"],
            "folds": folds,
            "stress": [{"case": case, "net_pnl": f"{total * m:.2f}", "max_drawdown": f"{100 + 20 * i:.2f}",
                        "pessimistic_pnl_delta": f"{total * (m - 1):.2f}"}
                       for i, (case, m) in enumerate([("spread", 0.8), ("volatility", 0.7), ("liquidity", 0.85),
                                                      ("halt", 0.95)])]})
    return {
        "schema_version": "torghut.research-run/v1", "run_id": f"lane-{strategy}-2025", "status": "passed",
        "strategy": {"name": strategy, "version": "1.2.0", "type": "plugin_v3"},
        "code_commit": "demo-lane", "runner_version": "lane/1.0",
        "dataset": {"version": f"lane-bars-{strategy}", "fingerprint": fingerprint, "from": _iso(start),
                    "to": _iso(start + timedelta(days=7 * 16)), "snapshot_ref": f"lanes/{strategy}.parquet",
                    "symbols": ["AAPL", "MSFT", "NVDA", "SPY"]},
        "features": {"schema_version": "3.0.0", "spec_hash": "sha256:" + f"{seed + 1:064x}",
                     "snapshot_fingerprint": "sha256:" + f"{seed + 2:064x}",
                     "null_rate": {"macd": "0.000", "rsi": "0.001"}, "staleness_ms_p95": 3100},
        "candidates": candidates,
    }


def promotions_ready(*, actor: str = "demo") -> tuple[str, str]:
    """A signing key this machine holds, the shipped gate policies loaded and ``DEMO_POLICY`` active (idempotent).
    Returns (the active key's id, the active policy's version)."""
    try:
        signer = services.active_signer()
    except services.NoSigningKey:  # none yet, or its file is not on this machine: make one it holds
        services.signing_key_rotate(actor=actor)
        signer = services.active_signer()
    for path in sorted(SHIPPED.glob("*.json")):
        services.policy_load(document=json.loads(path.read_text()), actor=actor)
    active = selectors.policy_active()
    if active is None or active.version != DEMO_POLICY:
        services.policy_activate(version=DEMO_POLICY, actor=actor, reason="the demo runs with the selection-bias gate")
    return signer.key_id, DEMO_POLICY


def drills_rehearse(progress: Callable[[str], object]) -> None:
    """The operator rehearses the kill-switch and rollback drills (gate 4 reads them within 72 h)."""
    for kind in ("kill_switch", "rollback"):
        drill = services.drill_run(kind=kind, strategy_name=None, actor=OPERATOR)
        if not drill.passed:
            progress(f"  {kind} drill FAILED: {drill.evidence}")


class DemoPromotions:
    """Called by the executions replay at the start of each simulated trading day."""

    def __init__(self, progress: Callable[[str], object]):
        self.progress = progress
        self.counts = {"promotions": 0, "promotions_refused_by_gates": 0}

    def setup(self, first_day) -> None:
        promotions_ready()
        for strategy, seed, edge in LANES:
            run_ingest(body=lane_artifact(strategy, seed, edge, first_day - timedelta(days=7 * 20)), actor=AGENT)
        approver2 = principal_create(name=SECOND_APPROVER, roles=[Role.APPROVER],
                                     strategies=[s for s, *_ in LANES])
        self.progress(f"promotions: lanes recorded {len(LANES)} runs; approvers {APPROVER} and {approver2.username}")

    def on_day(self, day: int) -> None:
        if day == 0:
            self._drills()
            for strategy, *_ in LANES:
                self._promote(strategy, "paper", approvers=[APPROVER])
            for strategy in WALK_FORWARD:
                self._evaluate_only(strategy)
        elif day == 6:
            self._drills()
            self._promote("breakout", "canary", approvers=[APPROVER])
            self._promote("pairs_revert", "canary", reject="paper fallbacks above what we accept for canary")
        elif day == 12:
            self._drills()
            with override_settings(TRADING_LIVE_ENABLED=True):
                self._promote("breakout", "live", approvers=[APPROVER, SECOND_APPROVER])
            self._promote("vol_carry", "canary", approvers=[])

    def stage(self, strategy: str) -> str:
        from strategies.models import Strategy

        return Strategy.objects.filter(name=strategy).values_list("stage", flat=True).first() or "shadow"

    def _drills(self) -> None:
        drills_rehearse(self.progress)

    def _best_candidate(self, strategy: str) -> str:
        from ledger.models import ResearchCandidate

        return (ResearchCandidate.objects.filter(run__strategy_name=strategy).order_by("-run_id", "position")
                .values_list("candidate_id", flat=True).first())

    def _evaluate_only(self, strategy: str) -> None:
        candidate = self._best_candidate(strategy)
        if candidate is None:
            return
        evaluation = services.evaluation_create(candidate_id=candidate, target="paper", actor=AGENT)
        failing = [g["gate_id"] for g in evaluation.artifact["gates"] if g["status"] != "pass"]
        self.progress(f"  {strategy}: evaluated for paper, {'allowed' if evaluation.allowed else 'refused'}"
                      + (f" ({', '.join(failing)})" if failing else ""))

    def _promote(self, strategy: str, target: str, *, approvers: list[str] | None = None,
                 reject: str | None = None) -> None:
        User = get_user_model()
        candidate = f"lane-{strategy}-c0"
        evaluation = services.evaluation_create(candidate_id=candidate, target=target, actor=AGENT)
        if not evaluation.allowed:
            failing = [g["gate_id"] for g in evaluation.artifact["gates"] if g["status"] != "pass"]
            self.progress(f"  {strategy} → {target}: gates refused ({', '.join(failing)}); stays where it is")
            self.counts["promotions_refused_by_gates"] += 1
            return
        proof = {"evaluation_id": str(evaluation.evaluation_id), "artifact_sha256": evaluation.artifact_sha256,
                 "signature": evaluation.signature}
        _, promotion = services.agent_run_handoff(run_id=f"lane-{strategy}-2025", candidate_id=candidate,
                                                  promotion_target=target, gate_proof=proof, actor=AGENT)
        self.counts["promotions"] += 1
        if reject:
            services.promotion_reject(promotion_id=promotion.pk, user=User.objects.get(username=APPROVER),
                                      comment=reject)
        for name in approvers or []:
            services.promotion_approve(promotion_id=promotion.pk, user=User.objects.get(username=name),
                                       comment="evidence read; gates pass")
        promotion.refresh_from_db()
        self.progress(f"  {strategy} → {target}: promotion #{promotion.pk} {promotion.get_status_display().lower()}")

