"""Promotion benchmarks (issue targets):

- evaluate one candidate with 200 folds and 4 stress cases, the selection-bias gate over a run of 50
  candidates included, in < 50 ms (the pure evaluation, and the service with its reads and signature);
- replay one promotion end to end (rows read afresh, every hash and signature verified, the gates
  recomputed) in < 1 s;
- ``replay_promotion --all`` over 10,000 stored promotions in < 5 minutes, printing promotions per second.

``python -m bench.bench_promotions --promotions N`` changes the size of the last one.
"""
from __future__ import annotations

import sys
import time

from bench.common import bench_database, timed, verdict


def _arg(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def _big_run():
    """A stored run of 50 candidates x 200 folds x 4 stress cases with varied fold P&L."""
    import random

    from ledger.services import run_ingest
    from tests.ledger.factories import ArtifactFactory, CandidateArtifactFactory, FoldFactory, stress_rows

    rng = random.Random(7)
    candidates = []
    for i in range(50):
        edge = 40 if i == 0 else 0
        folds = [FoldFactory(index=k, net_pnl=f"{rng.gauss(edge, 12):.2f}") for k in range(200)]
        for k, fold in enumerate(folds):  # 200 weekly folds: spread them over ~4 years
            from datetime import timedelta

            from tests.ledger.factories import BASE, iso
            fold.update(train_start=iso(BASE + timedelta(days=7 * k)), train_end=iso(BASE + timedelta(days=7 * k + 4)),
                        test_start=iso(BASE + timedelta(days=7 * k + 5)),
                        test_end=iso(BASE + timedelta(days=7 * k + 6)), order=k + 1, name=f"fold_{k + 1}")
        candidates.append(CandidateArtifactFactory(candidate_id=f"big-c{i:02d}", folds=folds, stress=stress_rows()))
    run_ingest(body=ArtifactFactory(run_id="bench-big", candidates=candidates), actor="bench")
    return "big-c00"


def bench_evaluation() -> None:
    from ledger.selectors import candidate_evidence_rows
    from promotions import gates, selectors, services
    from promotions.models import Evaluation

    candidate_id = _big_run()
    policy = selectors.policy_active()
    rows = candidate_evidence_rows(candidate_id=candidate_id)
    inputs = {**rows, "operations": {"drills": {}, "live": {"enabled": False}}}

    def evaluate():
        return gates.build_artifact(target="paper", inputs=inputs, policy=policy.document, policy_sha256=policy.sha256,
                                    evaluated_at="2026-12-01T00:00:00Z")

    pure, pure_best = timed(evaluate, repeat=21)
    gates_only, gates_best = timed(lambda: gates.evaluate(target="paper", inputs=inputs, policy=policy.document),
                                   repeat=21)
    hashes, _ = timed(lambda: gates.row_hashes(inputs), repeat=21)
    reads, _ = timed(lambda: candidate_evidence_rows(candidate_id=candidate_id))
    service, _ = timed(lambda: services.evaluation_create(candidate_id=candidate_id, target="paper", actor="bench"),
                       repeat=5)
    selection = next(g for g in Evaluation.objects.order_by("-id").first().artifact["gates"]
                     if g["gate_id"] == "gate6_selection_bias")
    n = len(inputs["folds"])
    print("evaluation, 50 candidates x 200 folds x 4 stress (v4-gates-1, selection-bias gate included):")
    print(f"  the evaluation (pure: the gates and the artifact with the sha256 of all {n} fold rows read): "
          f"median {pure:.1f} ms, best {pure_best:.1f} ms  target < 50 ms  {verdict(pure, 50)}")
    print(f"    of which the gates: median {gates_only:.1f} ms, best {gates_best:.1f} ms; "
          f"the row hashes: median {hashes:.1f} ms")
    print(f"  ledger reads: median {reads:.1f} ms; whole service (reads, gates, signature, insert): "
          f"median {service:.1f} ms ({service / pure:.1f}x the pure evaluation)")
    print(f"  selection gate on the seeded run: {selection['status']}, DSR {selection['observed']['deflated_sharpe']}, "
          f"PBO {selection['observed']['pbo']}")


def _seed_promotions(count: int) -> None:
    """``count`` closed promotions with signed evaluations and decisions, on small runs (bulk inserts)."""
    from django.utils import timezone

    from core.canonical import content_sha256
    from ledger.selectors import candidate_evidence_rows
    from ledger.services import run_ingest
    from promotions import gates, selectors, services, signing
    from promotions.models import Evaluation, Promotion, PromotionDecision
    from promotions.services import DECISION_SCHEMA, operations_snapshot
    from strategies.models import Strategy
    from tests.ledger.factories import ArtifactFactory

    policy, signer = selectors.policy_active(), services.active_signer()
    strategy = Strategy.objects.get(name="macd_rsi")
    per_run, runs = 50, max(1, count // 50)
    made = 0
    started = time.perf_counter()
    for r in range(runs):
        run = run_ingest(body=ArtifactFactory(run_id=f"bench-r{r:04d}"), actor="bench").run
        candidate = run.candidates.order_by("position").first()
        rows = candidate_evidence_rows(candidate_id=candidate.candidate_id)
        now = timezone.now()
        inputs = {**rows, "operations": operations_snapshot(strategy=strategy, now=now)}
        evaluations, decisions = [], []
        for i in range(min(per_run, count - made)):
            artifact = gates.build_artifact(target="paper", inputs=inputs, policy=policy.document,
                                            policy_sha256=policy.sha256, evaluated_at=f"2026-12-01T00:{i % 60:02d}:00Z")
            artifact["evaluated_at"] = f"{artifact['evaluated_at']}#{r}-{i}"
            evaluations.append(Evaluation(strategy=strategy, run=run, candidate=candidate, target="paper",
                                          policy=policy, operations=inputs["operations"], artifact=artifact,
                                          artifact_sha256=content_sha256(artifact), allowed=artifact["allowed"],
                                          signature=signing.sign(signer, artifact), key_id=signer.key_id,
                                          created_by="bench", created_at=now))
        evaluations = Evaluation.objects.bulk_create(evaluations)
        promotions = Promotion.objects.bulk_create([
            Promotion(strategy=strategy, candidate=candidate, evaluation=e, from_stage="shadow", to_stage="paper",
                      status="rejected", requested_by="bench-lane") for e in evaluations])
        for p, e in zip(promotions, evaluations, strict=True):
            previous = ""
            for action, actor in (("request", "bench-lane"), ("reject", "bench-approver")):
                doc = {"schema_version": DECISION_SCHEMA, "promotion_id": p.pk, "strategy": strategy.name,
                       "candidate_id": candidate.candidate_id, "from_stage": "shadow", "to_stage": "paper",
                       "action": action, "actor": actor, "actor_roles": [], "comment": "",
                       "evaluation_id": str(e.evaluation_id), "evaluation_sha256": e.artifact_sha256,
                       "previous_sha256": previous, "at": now.isoformat().replace("+00:00", "Z")}
                sha = content_sha256(doc)
                decisions.append(PromotionDecision(promotion=p, action=action, actor=actor, requested_by="bench-lane",
                                                   document=doc, decision_sha256=sha, previous_sha256=previous,
                                                   signature=signing.sign(signer, doc), key_id=signer.key_id, at=now))
                previous = sha
        PromotionDecision.objects.bulk_create(decisions)
        made += len(evaluations)
        if (r + 1) % 40 == 0:
            print(f"  seeded {made}/{count} promotions ({time.perf_counter() - started:.0f} s)", flush=True)


def bench_replay(count: int) -> None:
    from io import StringIO

    from django.core.management import call_command

    from promotions import selectors
    from promotions.models import Promotion

    print(f"seeding {count} signed promotions…", flush=True)
    _seed_promotions(count)
    one = selectors.promotion_get(promotion_id=Promotion.objects.order_by("id").first().pk)
    assert selectors.promotion_replay(promotion=one)["reproducible"]
    median, best = timed(lambda: selectors.promotion_replay(promotion=one), repeat=9)
    print(f"replay of one promotion end to end: median {median:.1f} ms, best {best:.1f} ms  target < 1000 ms  "
          f"{verdict(median, 1000)}")
    out = StringIO()
    started = time.perf_counter()
    call_command("replay_promotion", "--all", stdout=out, stderr=StringIO())
    elapsed = time.perf_counter() - started
    print(f"replay_promotion --all: {out.getvalue().strip().splitlines()[-1]}  "
          f"target < 300 s for 10,000  {verdict(elapsed * 10_000 / max(count, 1), 300)}")


def main() -> int:
    import tempfile

    with bench_database():
        from django.conf import settings
        from django.core.management import call_command

        from promotions import services
        from strategies.services import strategy_register

        settings.SIGNING_KEY_DIR = tempfile.mkdtemp(prefix="bench-keys-")
        services.signing_key_rotate(actor="bench")
        call_command("gate_policy", "load", "--shipped", stdout=open("/dev/null", "w"))
        services.policy_activate(version="v4-gates-1", actor="bench", reason="bench")
        strategy_register(name="macd_rsi")
        services.drill_run(kind="kill_switch", strategy_name=None, actor="bench")
        services.drill_run(kind="rollback", strategy_name=None, actor="bench")
        bench_evaluation()
        bench_replay(_arg("--promotions", 10_000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
