"""Reads of the promotions app."""
from __future__ import annotations

from django.db.models import QuerySet

from promotions.choices import KeyStatus
from promotions.models import GatePolicy, PolicyActivation, SigningKey


def policy_active() -> GatePolicy | None:
    activation = PolicyActivation.objects.select_related("policy").order_by("-id").first()
    return activation.policy if activation else None


def policy_list() -> QuerySet[GatePolicy]:
    return GatePolicy.objects.order_by("-id")


def policy_get(*, version: str) -> GatePolicy:
    return GatePolicy.objects.get(version=version)


def signing_key_list() -> QuerySet[SigningKey]:
    return SigningKey.objects.order_by("-id")


def verifying_keys() -> dict[str, str]:
    """``{key_id: public_key}`` of every key whose signatures verify (active and retired)."""
    return dict(SigningKey.objects.exclude(status=KeyStatus.REVOKED).values_list("key_id", "public_key"))


def champion_candidate(*, strategy):
    """The candidate of the newest applied promotion at or below the strategy's stage (None at shadow)."""
    from promotions.choices import PromotionStatus
    from promotions.models import Promotion
    from strategies.choices import STAGE_RANK

    for promotion in (Promotion.objects.filter(strategy=strategy, status=PromotionStatus.APPLIED)
                      .select_related("candidate").order_by("-id")):
        if STAGE_RANK[promotion.to_stage] <= STAGE_RANK[strategy.stage]:
            return promotion.candidate
    return None


# --- evidence and replay -----------------------------------------------------------------------

def evidence_bundle(*, promotion) -> dict:
    """The promotion's evidence bundle, with the ledger rows read afresh from the database."""
    from ledger.selectors import candidate_evidence_rows
    from promotions.bundle import BUNDLE_SCHEMA
    from promotions.models import SigningKey

    evaluation = promotion.evaluation
    policy = evaluation.policy
    inputs = {**candidate_evidence_rows(candidate_id=promotion.candidate.candidate_id),
              "operations": evaluation.operations}
    decisions = list(promotion.decisions.order_by("id"))
    key_ids = {evaluation.key_id, *(d.key_id for d in decisions)}
    keys = [{"key_id": k.key_id, "algorithm": k.algorithm, "public_key": k.public_key, "status": k.status}
            for k in SigningKey.objects.filter(key_id__in=key_ids).order_by("key_id")]
    return {
        "schema_version": BUNDLE_SCHEMA,
        "promotion": promotion_representation(promotion, decisions=decisions),
        "policy": {"version": policy.version, "sha256": policy.sha256, "document": policy.document},
        "inputs": inputs,
        "evaluation": {"evaluation_id": str(evaluation.evaluation_id), "artifact": evaluation.artifact,
                       "artifact_sha256": evaluation.artifact_sha256, "signature": evaluation.signature,
                       "key_id": evaluation.key_id},
        "decisions": [{"document": d.document, "decision_sha256": d.decision_sha256, "signature": d.signature,
                       "key_id": d.key_id} for d in decisions],
        "keys": keys,
    }


def promotion_replay(*, promotion) -> dict:
    """Recompute the decision from the stored ledger rows and the stored policy version alone, and
    verify every hash and signature (``GET /api/v1/promotions/{id}/replay``)."""
    import time

    from promotions.bundle import verify_and_replay

    started = time.perf_counter()
    bundle = evidence_bundle(promotion=promotion)
    mismatches, replayed = verify_and_replay(bundle)
    artifact = bundle["evaluation"]["artifact"]

    def summary(a: dict) -> dict:
        return {"allowed": a.get("allowed"), "recommended_mode": a.get("recommended_mode"),
                "gates": {g["gate_id"]: g["status"] for g in a.get("gates", [])}}

    return {"promotion_id": promotion.pk, "reproducible": not mismatches, "mismatches": mismatches,
            "original": summary(artifact), "replayed": summary(replayed),
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 2)}


def promotion_representation(promotion, *, decisions=None) -> dict:
    """The contract's promotion object."""
    decisions = list(promotion.decisions.order_by("id")) if decisions is None else decisions
    last = decisions[-1] if decisions else None
    return {
        "id": promotion.pk, "strategy": promotion.strategy.name, "candidate_id": promotion.candidate.candidate_id,
        "from_stage": promotion.from_stage, "to_stage": promotion.to_stage, "status": promotion.status,
        "approvals": [{"user": d.actor, "decision": d.action, "comment": d.comment,
                       "at": d.at.isoformat().replace("+00:00", "Z")}
                      for d in decisions if d.action in ("approve", "reject", "comment")],
        "approvals_required": promotion.approvals_required,
        "evaluation_id": str(promotion.evaluation.evaluation_id),
        "decision_sha256": last.decision_sha256 if last else None,
        "signature": last.signature if last else None,
        "key_id": last.key_id if last else None,
        "requested_by": promotion.requested_by,
        "agent_run_id": str(promotion.agent_run.agent_run_id) if promotion.agent_run_id else None,
        "created_at": promotion.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": promotion.updated_at.isoformat().replace("+00:00", "Z"),
    }


def promotion_list():
    from promotions.models import Promotion

    return Promotion.objects.select_related("strategy", "candidate", "evaluation", "agent_run").order_by("-id")


def promotion_get(*, promotion_id: int):
    """Raises ``Promotion.DoesNotExist``."""
    return promotion_list().get(pk=promotion_id)


def champions(*, strategies) -> dict[int, str]:
    """strategy pk -> champion candidate_id, for a page of strategies in one query."""
    from promotions.choices import PromotionStatus
    from promotions.models import Promotion
    from strategies.choices import STAGE_RANK

    stage = {s.pk: s.stage for s in strategies}
    out: dict[int, str] = {}
    rows = (Promotion.objects.filter(strategy_id__in=list(stage), status=PromotionStatus.APPLIED)
            .order_by("-id").values_list("strategy_id", "to_stage", "candidate__candidate_id"))
    for strategy_id, to_stage, candidate_id in rows:
        if strategy_id not in out and STAGE_RANK[to_stage] <= STAGE_RANK[stage[strategy_id]]:
            out[strategy_id] = candidate_id
    return out


# --- pages -------------------------------------------------------------------------------------

def pipeline_rows() -> list[dict]:
    """One row per strategy: stage, champion, challengers counted, open promotions by target stage."""
    from django.db.models import Count, OuterRef, Q, Subquery

    from ledger.models import CandidateLifecycleEvent, ResearchCandidate
    from promotions.choices import OPEN_PROMOTION_STATUSES
    from promotions.models import Promotion
    from strategies.models import Strategy

    strategies = list(Strategy.objects.order_by("name"))
    champs = champions(strategies=strategies)
    latest_role = CandidateLifecycleEvent.objects.filter(candidate=OuterRef("pk")).order_by("-id").values("role")[:1]
    challengers = dict(ResearchCandidate.objects.annotate(role=Subquery(latest_role)).filter(role="challenger")
                       .values("run__strategy_id").annotate(n=Count("id")).values_list("run__strategy_id", "n"))
    open_by: dict[int, dict[str, list]] = {}
    for p in (Promotion.objects.filter(status__in=OPEN_PROMOTION_STATUSES).select_related("candidate")
              .annotate(approvals=Count("decisions", filter=Q(decisions__action="approve"))).order_by("id")):
        open_by.setdefault(p.strategy_id, {}).setdefault(p.to_stage, []).append(p)
    return [{"strategy": s, "stage": s.stage, "champion": champs.get(s.pk), "challengers": challengers.get(s.pk, 0),
             "open": open_by.get(s.pk, {}), "pending": sum(len(v) for v in open_by.get(s.pk, {}).values())}
            for s in strategies]


def pipeline_summary() -> dict:
    """Strategies per stage (every stage present) and promotions waiting for an approval. Two queries."""
    from django.db.models import Count

    from promotions.choices import OPEN_PROMOTION_STATUSES
    from promotions.models import Promotion
    from strategies.choices import STAGES
    from strategies.models import Strategy

    counts = dict(Strategy.objects.values_list("stage").annotate(n=Count("id")).values_list("stage", "n"))
    return {"stages": [(stage, counts.get(stage, 0)) for stage in STAGES],
            "pending": Promotion.objects.filter(status__in=OPEN_PROMOTION_STATUSES).count()}


def fold_points(*, candidate) -> list:
    from ledger.figures import FoldPoint
    from ledger.metrics import parameters_label

    label = parameters_label(candidate.parameter_set)
    return [FoldPoint(label, f.fold_name, f.net_pnl, f.max_drawdown)
            for f in candidate.folds.order_by("fold_order")]


def canary_caps() -> dict | None:
    """The active gate policy's caps for strategies at canary (None when no policy is active)."""
    policy = policy_active()
    return dict(policy.document.get("canary_caps") or {}) if policy else None


# --- readiness (the plan's exit criteria; registered in autonomy.readiness) ---------------------

def activation_promotions() -> list[tuple]:
    """``(strategy, promotion or None)`` for every strategy at paper, canary or live: the newest applied
    promotion to its stage (or, after a demotion, to a higher one) — the chain its activation rests on."""
    from promotions.choices import PromotionStatus
    from promotions.models import Promotion
    from strategies.choices import STAGE_RANK, Stage
    from strategies.models import Strategy

    strategies = list(Strategy.objects.exclude(stage=Stage.SHADOW).order_by("name"))
    applied: dict[int, list] = {}
    for promotion in (Promotion.objects.filter(strategy__in=strategies, status=PromotionStatus.APPLIED)
                      .order_by("-id")):
        applied.setdefault(promotion.strategy_id, []).append(promotion)
    out = []
    for strategy in strategies:
        mine = applied.get(strategy.pk, [])
        exact = next((p for p in mine if p.to_stage == strategy.stage), None)
        higher = next((p for p in mine if STAGE_RANK[p.to_stage] > STAGE_RANK[strategy.stage]), None)
        out.append((strategy, exact or higher))
    return out


def readiness_activations(*, window_start, now) -> dict:
    """Strategies above shadow whose activation lacks a verifying signed chain: no applied promotion,
    or no reproducible replay of it recorded in the window (the replay sweep records them)."""
    from promotions.models import ReplayRecord

    pairs = activation_promotions()
    latest = {}
    for record in (ReplayRecord.objects.filter(promotion_id__in=[p.pk for _, p in pairs if p], at__gte=window_start,
                                               at__lte=now).order_by("id")):
        latest[record.promotion_id] = record
    broken = []
    for strategy, promotion in pairs:
        if promotion is None:
            broken.append({"strategy": strategy.name, "why": f"no applied promotion brought it to {strategy.stage}"})
        elif promotion.pk not in latest:
            broken.append({"strategy": strategy.name, "why": f"promotion #{promotion.pk} not replayed in the window"})
        elif not latest[promotion.pk].reproducible:
            broken.append({"strategy": strategy.name, "why": f"promotion #{promotion.pk} does not replay: "
                                                             f"{'; '.join(latest[promotion.pk].mismatches[:2])}"})
    return {"activations": len(pairs), "without_chain": broken}


def readiness_replays(*, window_start, now) -> dict:
    """The promotion replays recorded in the window: how many, the slowest, how many did not reproduce."""
    from django.db.models import Count, Max, Q

    from promotions.models import ReplayRecord

    row = ReplayRecord.objects.filter(at__gte=window_start, at__lte=now).aggregate(
        count=Count("id"), slowest=Max("elapsed_ms"), failed=Count("id", filter=Q(reproducible=False)))
    return {"count": row["count"], "slowest_ms": None if row["slowest"] is None else float(row["slowest"]),
            "not_reproducible": row["failed"]}


# --- the research pages (registered in ledger.scoring) ------------------------------------------

SELECTION_GATE = "gate6_selection_bias"


def research_selection(fold_pnl: dict[str, dict[int, float]]):
    """The deflated Sharpe ratio of each candidate of one run and the run's PBO, exactly as the active
    policy's selection-bias gate computes them (same matrix of common folds, same thresholds)."""
    import numpy as np

    from ledger.scoring import Selection
    from promotions import selection

    policy = policy_active()
    if policy is None:
        return Selection(note="no gate policy is active")
    params = policy.document.get("gates", {}).get(SELECTION_GATE)
    required = any(SELECTION_GATE in gates for gates in policy.document.get("stage_requirements", {}).values())
    if not required or not isinstance(params, dict):
        return Selection(policy=policy.version, note=f"policy {policy.version} does not judge selection bias")
    ids = sorted(fold_pnl)
    common = sorted(set.intersection(*(set(v) for v in fold_pnl.values()))) if ids else []
    matrix = np.array([[fold_pnl[c][o] for c in ids] for o in common], dtype=float).reshape(len(common), len(ids))
    limits = {"min_candidates": params["min_candidates"], "min_folds": params["min_folds"]}
    dsr, notes = {}, []
    for column, cid in enumerate(ids):
        verdict = selection.deflated_sharpe(matrix, column, **limits)
        dsr[cid] = verdict.value
        if verdict.value is None and verdict.reason not in notes:
            notes.append(verdict.reason)
    pbo = selection.probability_of_backtest_overfitting(matrix, partitions=params["pbo_partitions"], **limits)
    if pbo.value is None and pbo.reason not in notes:
        notes.append(f"PBO: {pbo.reason}")
    return Selection(policy=policy.version, note="; ".join(notes), deflated_sharpe=dsr, pbo=pbo.value)


def research_gates(candidate_id: str):
    """The gates of the active policy for ``candidate_id`` as an evaluation would judge them now
    (nothing signed or stored); None when no policy is active."""
    from django.utils import timezone

    from ledger.scoring import GatePreview, GateResult
    from ledger.selectors import candidate_evidence_rows
    from promotions import gates
    from promotions.services import operations_snapshot
    from strategies.models import Strategy

    policy = policy_active()
    if policy is None:
        return None
    rows = candidate_evidence_rows(candidate_id=candidate_id)
    strategy = Strategy.objects.get(name=rows["run"]["strategy_name"])
    inputs = {**rows, "operations": operations_snapshot(strategy=strategy, now=timezone.now())}
    result = gates.evaluate(target=gates.TARGETS[-1], inputs=inputs, policy=policy.document)
    return GatePreview(policy=policy.version, reaches=result["recommended_mode"],
                       gates=tuple(GateResult(g["gate_id"], g["status"], tuple(g["reasons"]))
                                   for g in result["gates"]))
