"""Writes of the promotions app. Every state change writes its audit row in the same transaction;
every decision on a promotion is signed and chained (``PromotionDecision``)."""
from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from access.choices import Via
from access.policy import GuardedAction, ensure_not_agent
from access.roles import Role
from access.selectors import StrategyPerm, strategies_for, user_roles
from access.services import audit_record
from autonomy import drill as autonomy_drill
from autonomy import selectors as autonomy_selectors
from autonomy import services as autonomy_services
from autonomy.admission import AdmissionFacts, admission_block
from autonomy.choices import TradingStateChoice
from autonomy.selectors import trading_state_get
from core import locks
from core.canonical import content_sha256
from core.errors import (
    ApplicationError,
    Blocked,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionRefused,
    PolicyRefused,
    invalid_fields,
)
from core.versions import version_store
from ledger import selectors as ledger_selectors
from ledger.choices import LifecycleRole
from ledger.models import ResearchCandidate, ResearchRun
from ledger.services import candidate_lifecycle_set
from promotions import evidence, gates, selectors, signing
from promotions.choices import (
    OPEN_PROMOTION_STATUSES,
    DecisionAction,
    DrillKind,
    KeyStatus,
    OrchestrationStage,
    PromotionStatus,
)
from promotions.models import (
    AgentRun,
    Drill,
    Evaluation,
    GatePolicy,
    PolicyActivation,
    Promotion,
    PromotionDecision,
    ReplayRecord,
    SigningKey,
)
from strategies.choices import STAGE_RANK, STAGES, Stage
from strategies.models import Strategy
from strategies.selectors import strategy_known_or_400

DECISION_SCHEMA = "torghut.promotion-decision/v1"

# --- gate policies ------------------------------------------------------------------------------

def policy_load(*, document: Any, actor: str, via: str = Via.COMMAND) -> tuple[GatePolicy, bool]:
    """Store a new policy version. The same document again is a no-op; another document under a
    stored version is a 409 ``policy_version_conflict`` (a version never changes)."""
    problems = gates.policy_problems(document)
    if problems:
        raise invalid_fields("The gate policy is invalid", problems, code="invalid_policy")
    with transaction.atomic():
        policy, created = version_store(model=GatePolicy, document=document, noun="policy",
                                        code="policy_version_conflict", created_by=actor)
        if created:
            audit_record(actor=actor, via=via, action="gate_policy_load", object_ref=f"gate_policy:{policy.version}",
                         details={"sha256": policy.sha256})
    return policy, created


def policy_activate(*, version: str, actor: str, reason: str, via: str = Via.COMMAND) -> PolicyActivation:
    """Make ``version`` the policy new evaluations use (an audited, append-only decision)."""
    if not reason.strip():
        raise InvalidInput("Say why the policy changes.", details={"fields": {"reason": ["required"]}})
    with transaction.atomic():
        locks.xact_lock("policy:activation")
        policy = GatePolicy.objects.filter(version=version).first()
        if policy is None:
            known = ", ".join(GatePolicy.objects.values_list("version", flat=True)) or "none loaded"
            raise InvalidInput(f"Unknown policy version {version!r} (known: {known}).", code="unknown_policy",
                               details={"fields": {"version": ["unknown"]}})
        current = PolicyActivation.objects.select_related("policy").order_by("-id").first()
        before = current.policy.version if current else None
        activation = PolicyActivation.objects.create(policy=policy, previous=current.policy if current else None,
                                                     actor=actor, reason=reason.strip())
        audit_record(actor=actor, via=via, action="gate_policy_activate", object_ref=f"gate_policy:{version}",
                     details={"before": before, "after": version, "reason": reason.strip()})
        # The runs list shows the deflated Sharpe and PBO as the active policy computes them.
        transaction.on_commit(_refresh_run_summaries)
    return activation


def _refresh_run_summaries() -> None:
    from django_q.tasks import async_task

    async_task("ledger.tasks.run_summaries_refresh", task_name="run_summaries_refresh", group="ledger")


# --- signing keys -------------------------------------------------------------------------------

def _key_dir() -> Path:
    return Path(settings.SIGNING_KEY_DIR)


def signing_key_rotate(*, actor: str, via: str = Via.COMMAND, key_dir: Path | None = None) -> SigningKey:
    """Create a new key and make it the one that signs; the previous active key is retired (its
    signatures keep verifying). With no key yet, this creates the first one."""
    key_dir = key_dir or _key_dir()
    with transaction.atomic():
        locks.xact_lock("signing_keys")
        previous = SigningKey.objects.filter(status=KeyStatus.ACTIVE).first()
        pair = signing.generate(key_dir)
        if previous is not None:
            previous.status, previous.retired_at = KeyStatus.RETIRED, timezone.now()
            previous.save(update_fields=["status", "retired_at"])
        key = SigningKey.objects.create(key_id=pair.key_id, public_key=pair.public_b64, status=KeyStatus.ACTIVE,
                                        created_by=actor)
        audit_record(actor=actor, via=via, action="signing_key_rotate", object_ref=f"signing_key:{key.key_id}",
                     details={"before": previous.key_id if previous else None, "after": key.key_id})
    return key


def signing_key_revoke(*, key_id: str, reason: str, actor: str, via: str = Via.COMMAND) -> SigningKey:
    """Revoke a key: signatures it made no longer verify. Revoking the active key leaves nothing
    to sign with until ``rotate`` makes a new one."""
    if not reason.strip():
        raise InvalidInput("Say why the key is revoked.", details={"fields": {"reason": ["required"]}})
    with transaction.atomic():
        locks.xact_lock("signing_keys")
        key = SigningKey.objects.select_for_update().filter(key_id=key_id).first()
        if key is None:
            raise InvalidInput(f"Unknown signing key {key_id!r}.", code="unknown_key",
                               details={"fields": {"key_id": ["unknown"]}})
        if key.status == KeyStatus.REVOKED:
            return key
        before = key.status
        key.status, key.revoked_at, key.revoked_reason = KeyStatus.REVOKED, timezone.now(), reason.strip()
        key.save(update_fields=["status", "revoked_at", "revoked_reason"])
        audit_record(actor=actor, via=via, action="signing_key_revoke", object_ref=f"signing_key:{key_id}",
                     details={"before": before, "after": KeyStatus.REVOKED, "reason": key.revoked_reason})
    return key


class NoSigningKey(ApplicationError):
    http_status = 503
    default_code = "no_signing_key"
    default_message = "No active signing key: run `manage.py signing_keys rotate`."


def active_signer(key_dir: Path | None = None) -> signing.KeyPair:
    """The active key pair, read from its file; ``NoSigningKey`` when there is none here."""
    key = SigningKey.objects.filter(status=KeyStatus.ACTIVE).first()
    if key is None:
        raise NoSigningKey()
    try:
        return signing.load(key_dir or _key_dir(), key.key_id)
    except FileNotFoundError:
        raise NoSigningKey(f"The active signing key {key.key_id} has no key file in {key_dir or _key_dir()}.") from None


# --- drills ------------------------------------------------------------------------------------

def _strategy_or_400(name: str | None) -> Strategy | None:
    return None if name is None else strategy_known_or_400(name=name)


def drill_run(*, kind: str, strategy_name: str | None, actor: str, via: str = Via.API) -> Drill:
    """Rehearse a control without trading and record whether it held (gate 4 reads the result).

    ``kill_switch``: the admission check refuses a sample order of the strategy under a simulated
    HALTED state, and each autonomy condition (stale signals, failure streak, budgets, LEAN circuit)
    trips on breaching figures and refuses the sample order under the state it sets (the LEAN circuit
    disables the lane instead: orders are re-routed, not refused). ``rollback``: the rollback service,
    run for real inside a transaction that is then rolled back, restores the previous stage and champion
    (PostgreSQL's transition trigger included).
    """
    if kind not in DrillKind.values:
        raise InvalidInput(f"kind must be one of {', '.join(DrillKind.values)}.",
                           details={"fields": {"kind": ["unknown drill kind"]}})
    strategy = _strategy_or_400(strategy_name)
    targets = [strategy] if strategy else list(Strategy.objects.order_by("name"))
    if kind == DrillKind.KILL_SWITCH:
        checks = [_kill_switch_check(s) for s in targets] or [_kill_switch_check(None)]
    else:
        checks = [_rollback_check(s) for s in targets]
    passed = all(c["passed"] for c in checks)
    with transaction.atomic():
        drill = Drill.objects.create(kind=kind, strategy=strategy, passed=passed, created_by=actor,
                                     evidence={"checks": checks, "scope": strategy.name if strategy else "all"})
        audit_record(actor=actor, via=via, action=f"drill_{kind}", object_ref=f"drill:{drill.pk}",
                     details={"passed": passed, "strategy": strategy_name})
    return drill


def _kill_switch_check(strategy: Strategy | None) -> dict:
    """The halt, then every autonomy condition (stale signals, failure streak, each budget, the LEAN
    circuit) rehearsed on breaching figures with the live policies: did it trip, and would the sample
    order have been refused under the state it sets."""
    sample = {"strategy": strategy.name if strategy else "(any)", "symbol": "SPY", "side": "buy", "qty": "1",
              "type": "market"}
    facts = AdmissionFacts(trading_state=TradingStateChoice.HALTED, trading_reason="kill-switch drill",
                           symbol="SPY", symbol_mode="enabled", symbol_reason="", strategy=sample["strategy"],
                           strategy_known=True, stage=Stage.LIVE, notional=Decimal(1), side="buy", qty=Decimal(1))
    block = admission_block(facts)
    conditions = autonomy_drill.rehearse(
        sample=facts, freshness=autonomy_services.freshness_policy(), session=autonomy_services.market_session(),
        lean=autonomy_services.lean_circuit_policy(), failure_threshold=settings.AUTONOMY_FAILURE_STREAK,
        budgets=[(b.name, b.limit, b.on_breach) for b in autonomy_selectors.budget_limits().values()])
    halted = bool(block) and block[0] == "trading_halted"
    return {"strategy": sample["strategy"], "simulated_state": "HALTED", "sample_order": sample,
            "refused_with": block[0] if block else None, "message": block[1] if block else "admitted",
            "conditions": conditions, "passed": halted and all(c["passed"] for c in conditions)}


class _DryRun(Exception):
    def __init__(self, result: dict):
        self.result = result


def _rollback_check(strategy: Strategy) -> dict:
    promotion = (Promotion.objects.filter(strategy=strategy, status=PromotionStatus.APPLIED)
                 .order_by("-id").first())
    if promotion is None or strategy.stage == Stage.SHADOW:
        return {"strategy": strategy.name, "stage": strategy.stage, "passed": True,
                "plan": "nothing applied to roll back: the strategy stays where it is"}
    try:
        with transaction.atomic():
            result = _rollback(promotion=promotion, actor="drill", roles=[], reason="rollback drill (dry run)",
                               to_stage=None)
            raise _DryRun(result)
    except _DryRun as dry:
        return {"strategy": strategy.name, "promotion_id": promotion.pk, "passed": True, **dry.result}
    except (ApplicationError, DatabaseError) as exc:
        return {"strategy": strategy.name, "promotion_id": promotion.pk, "passed": False,
                "error": getattr(exc, "message", str(exc))[:500]}


# --- evaluations -------------------------------------------------------------------------------

def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def operations_snapshot(*, strategy: Strategy, now) -> dict:
    """The operational evidence the gates read, as plain data (stored with the evaluation)."""
    drills = {}
    for kind in DrillKind.values:
        drill = (Drill.objects.filter(kind=kind, passed=True).filter(Q(strategy=strategy) | Q(strategy__isnull=True))
                 .order_by("-at").first())
        if drill is not None:
            drills[kind] = {"id": drill.pk, "age_hours": gates.num((now - drill.at).total_seconds() / 3600, 2)}
    return {"drills": drills, "live": {"enabled": bool(settings.TRADING_LIVE_ENABLED)},
            **evidence.collect(strategy_id=strategy.pk, now=now)}


def evaluation_create(*, candidate_id: str, target: str, actor: str, now=None) -> Evaluation:
    """Evaluate the gates of the active policy for ``candidate_id`` → ``target``; sign and store it."""
    if target not in gates.TARGETS:
        raise InvalidInput(f"target must be one of {', '.join(gates.TARGETS)}.",
                           details={"fields": {"target": ["unknown target"]}})
    try:
        rows = ledger_selectors.candidate_evidence_rows(candidate_id=candidate_id)
    except ResearchCandidate.DoesNotExist:
        raise NotFound(f"No candidate {candidate_id!r} in the ledger.", code="unknown_candidate") from None
    policy = selectors.policy_active()
    if policy is None:
        raise PolicyRefused("No gate policy is active: `manage.py gate_policy activate VERSION`.",
                            code="no_active_policy")
    now = now or timezone.now()
    strategy = Strategy.objects.get(name=rows["run"]["strategy_name"])
    inputs = {**rows, "operations": operations_snapshot(strategy=strategy, now=now)}
    artifact = gates.build_artifact(target=target, inputs=inputs, policy=policy.document,
                                    policy_sha256=policy.sha256, evaluated_at=_iso(now))
    signer = active_signer()
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            strategy=strategy,  # pks only: the run's stored artifact is megabytes for a large search
            run_id=ResearchRun.objects.values_list("pk", flat=True).get(run_id=rows["run"]["run_id"]),
            candidate_id=ResearchCandidate.objects.values_list("pk", flat=True).get(candidate_id=candidate_id),
            target=target, policy=policy,
            operations=inputs["operations"], artifact=artifact, artifact_sha256=content_sha256(artifact),
            signature=signing.sign(signer, artifact), key_id=signer.key_id, allowed=artifact["allowed"],
            created_by=actor, created_at=now)
        audit_record(actor=actor, via=Via.API, action="gate_evaluation",
                     object_ref=f"evaluation:{evaluation.evaluation_id}",
                     details={"candidate_id": candidate_id, "target": target, "allowed": evaluation.allowed,
                              "policy": policy.version})
    return evaluation


# --- AgentRun handoff --------------------------------------------------------------------------

def _gate_proof_refused(code: str, message: str, **details) -> PolicyRefused:
    return PolicyRefused(message, code=code, details=details)


def evaluation_verify(evaluation: Evaluation) -> str | None:
    """Why the stored evaluation cannot be trusted (hash or signature), or None when it holds."""
    if content_sha256(evaluation.artifact) != evaluation.artifact_sha256:
        return "the stored artifact does not hash to its artifact_sha256"
    public = selectors.verifying_keys().get(evaluation.key_id)
    if public is None:
        return f"signing key {evaluation.key_id} is unknown or revoked"
    if not signing.verify(public, evaluation.artifact, evaluation.signature):
        return "the signature does not verify"
    return None


def agent_run_handoff(*, run_id: str, candidate_id: str, promotion_target: str, gate_proof: Any,
                      actor: str, now=None) -> tuple[AgentRun, Promotion]:
    """Open a promotion from a lane's gate proof. Every refusal is a 422 with a gate_proof_* code,
    409 ``promotion_pending`` when one is already open for the strategy and target."""
    now = now or timezone.now()
    if promotion_target not in gates.TARGETS:
        raise InvalidInput(f"promotion_target must be one of {', '.join(gates.TARGETS)}.",
                           details={"fields": {"promotion_target": ["unknown target"]}})
    proof = gate_proof if isinstance(gate_proof, dict) else {}
    if not all(isinstance(proof.get(k), str) and proof.get(k) for k in ("evaluation_id", "artifact_sha256",
                                                                            "signature")):
        raise _gate_proof_refused("gate_proof_missing", "A gate proof needs evaluation_id, artifact_sha256 and "
                                  "signature of a stored evaluation.")
    try:
        evaluation = (Evaluation.objects.select_related("policy", "candidate", "run", "strategy")
                      .get(evaluation_id=uuid.UUID(proof["evaluation_id"])))
    except (ValueError, Evaluation.DoesNotExist):
        raise _gate_proof_refused("gate_proof_invalid", "No stored evaluation has that evaluation_id.") from None
    problem = evaluation_verify(evaluation)
    if problem is None and (proof["artifact_sha256"] != evaluation.artifact_sha256
                            or proof["signature"] != evaluation.signature):
        problem = "the proof's artifact_sha256 or signature is not the stored evaluation's"
    if problem:
        raise _gate_proof_refused("gate_proof_invalid", f"The gate proof does not verify: {problem}.",
                                  evaluation_id=str(evaluation.evaluation_id))
    wanted = {"run_id": run_id, "candidate_id": candidate_id, "promotion_target": promotion_target}
    proved = {"run_id": evaluation.run.run_id, "candidate_id": evaluation.candidate.candidate_id,
              "promotion_target": evaluation.target}
    if wanted != proved:
        raise _gate_proof_refused("gate_proof_mismatch", "The gate proof is for another run, candidate or target.",
                                  requested=wanted, proved=proved)
    active = selectors.policy_active()
    max_age = timedelta(hours=evaluation.policy.document["evaluation_max_age_hours"])
    if active is None or active.pk != evaluation.policy_id:
        raise _gate_proof_refused("gate_proof_stale", f"The policy changed since the evaluation "
                                  f"({evaluation.policy.version} → {active.version if active else 'none'}).",
                                  evaluated_under=evaluation.policy.version)
    if now - evaluation.created_at > max_age:
        raise _gate_proof_refused("gate_proof_stale", f"The evaluation is older than the policy allows "
                                  f"({evaluation.policy.document['evaluation_max_age_hours']} h).",
                                  evaluated_at=_iso(evaluation.created_at))
    if not evaluation.allowed:
        failed = [g["gate_id"] for g in evaluation.artifact["gates"] if g["status"] != gates.PASS]
        raise _gate_proof_refused("gate_proof_failed", f"Gates did not pass: {', '.join(failed)}.", gates=failed)
    with transaction.atomic():
        strategy = Strategy.objects.select_for_update().get(pk=evaluation.strategy_id)
        _check_transition(strategy, promotion_target)
        if Promotion.objects.filter(strategy=strategy, to_stage=promotion_target,
                                    status__in=OPEN_PROMOTION_STATUSES).exists():
            raise Conflict(f"A promotion of {strategy.name} to {promotion_target} is already open.",
                           code="promotion_pending")
        agent_run = AgentRun.objects.create(research_run_id=run_id, candidate_id=candidate_id,
                                            promotion_target=promotion_target, gate_proof=proof,
                                            orchestration_stage=OrchestrationStage.GATE_EVALUATION, created_by=actor)
        promotion = Promotion.objects.create(
            strategy=strategy, candidate=evaluation.candidate, evaluation=evaluation, agent_run=agent_run,
            from_stage=strategy.stage, to_stage=promotion_target, requested_by=actor,
            approvals_required=2 if promotion_target == Stage.LIVE else 1,
            previous_champion=selectors.champion_candidate(strategy=strategy))
        _decide(promotion, DecisionAction.REQUEST, actor=actor, roles=[], comment="", now=now)
        audit_record(actor=actor, via=Via.API, action="agent_run_handoff", object_ref=f"promotion:{promotion.pk}",
                     details={"agent_run_id": str(agent_run.agent_run_id), "candidate_id": candidate_id,
                              "target": promotion_target, "before": strategy.stage, "after": "pending_approval"})
    return agent_run, promotion


def _check_transition(strategy: Strategy, target: str) -> None:
    if STAGE_RANK[target] != STAGE_RANK[strategy.stage] + 1:
        following = STAGES[STAGE_RANK[strategy.stage] + 1] if strategy.stage != Stage.LIVE else "none"
        raise PolicyRefused(f"{strategy.name} is at {strategy.stage}: a promotion moves one stage up at a time "
                            f"(next: {following}).",
                            code="transition_not_allowed", details={"stage": strategy.stage, "target": target})
    if trading_state_get().trading_state == TradingStateChoice.HALTED:
        raise Blocked("Trading is halted: no promotion is applied while it is.", code="trading_halted")


# --- decisions ---------------------------------------------------------------------------------

def _decide(promotion: Promotion, action: str, *, actor: str, roles, comment: str, now=None,
            extra: dict | None = None) -> PromotionDecision:
    """Append one signed decision, chained to the previous one and to the evaluation."""
    now = now or timezone.now()
    last = promotion.decisions.order_by("-id").first()
    document = {
        "schema_version": DECISION_SCHEMA, "promotion_id": promotion.pk, "strategy": promotion.strategy.name,
        "candidate_id": promotion.candidate.candidate_id, "from_stage": promotion.from_stage,
        "to_stage": promotion.to_stage, "action": action, "actor": actor, "actor_roles": sorted(roles),
        "comment": comment, "evaluation_id": str(promotion.evaluation.evaluation_id),
        "evaluation_sha256": promotion.evaluation.artifact_sha256,
        "previous_sha256": last.decision_sha256 if last else "", "at": _iso(now), **(extra or {}),
    }
    signer = active_signer()
    return PromotionDecision.objects.create(
        promotion=promotion, action=action, actor=actor, actor_roles=sorted(roles),
        requested_by=promotion.requested_by, comment=comment, document=document,
        decision_sha256=content_sha256(document), previous_sha256=document["previous_sha256"],
        signature=signing.sign(signer, document), key_id=signer.key_id, at=now)


def _locked_promotion(promotion_id: int) -> Promotion:
    promotion = (Promotion.objects.select_for_update(of=("self",)).select_related("strategy", "candidate", "evaluation")
                 .filter(pk=promotion_id).first())
    if promotion is None:
        raise NotFound(f"No promotion #{promotion_id}.")
    return promotion


def _ensure_approver(user, promotion: Promotion, action: str) -> None:
    ensure_not_agent(user, action)
    if not strategies_for(user, StrategyPerm.APPROVE).filter(pk=promotion.strategy_id).exists():
        raise PermissionRefused(f"You may not approve or reject promotions of {promotion.strategy.name}.",
                                code="not_approver_for_strategy")
    if user.get_username() == promotion.requested_by:
        raise PermissionRefused("The requester of a promotion may never approve or reject it.",
                                code="requester_cannot_decide")


def promotion_approve(*, promotion_id: int, user, comment: str = "", now=None, via: str = Via.API) -> Promotion:
    """Approve; the final approval (two different people for live) applies the promotion at once."""
    now = now or timezone.now()
    with transaction.atomic():
        promotion = _locked_promotion(promotion_id)
        _ensure_approver(user, promotion, GuardedAction.APPROVE_PROMOTION)
        if promotion.status != PromotionStatus.PENDING_APPROVAL:
            raise Conflict(f"Promotion #{promotion.pk} is {promotion.status}, not pending approval.",
                           code="promotion_not_pending")
        approvers = set(promotion.decisions.filter(action=DecisionAction.APPROVE).values_list("actor", flat=True))
        if user.get_username() in approvers:
            raise Conflict("You approved this promotion already; it needs another approver.", code="already_approved")
        problem = evaluation_verify(promotion.evaluation)
        if problem or not promotion.evaluation.allowed:
            raise _gate_proof_refused("gate_proof_invalid" if problem else "gate_proof_failed",
                                      f"The evaluation no longer supports this promotion: {problem or 'gates failed'}.")
        roles = sorted(user_roles(user))
        _decide(promotion, DecisionAction.APPROVE, actor=user.get_username(), roles=roles, comment=comment, now=now)
        if len(approvers) + 1 >= promotion.approvals_required:
            _apply(promotion, actor=user.get_username(), roles=roles, now=now)
        audit_record(actor=user.get_username(), actor_roles=roles, via=via, action="promotion_approve",
                     object_ref=f"promotion:{promotion.pk}",
                     details={"before": PromotionStatus.PENDING_APPROVAL, "after": promotion.status,
                              "comment": comment})
    return promotion


def _apply(promotion: Promotion, *, actor: str, roles, now) -> None:
    strategy = Strategy.objects.select_for_update().get(pk=promotion.strategy_id)
    if strategy.stage != promotion.from_stage:
        raise Conflict(f"{strategy.name} moved to {strategy.stage} since this promotion was requested.",
                       code="stage_changed")
    _check_transition(strategy, promotion.to_stage)
    strategy.stage, strategy.stage_changed_at = promotion.to_stage, now
    strategy.save(update_fields=["stage", "stage_changed_at"])
    reason = f"promoted to {promotion.to_stage} by promotion #{promotion.pk}"
    candidate_lifecycle_set(candidate=promotion.candidate, role=LifecycleRole.CHAMPION, reason=reason, actor=actor)
    previous = promotion.previous_champion
    if previous is not None and previous.pk != promotion.candidate_id:
        candidate_lifecycle_set(candidate=previous, role=LifecycleRole.DEMOTED, reason=reason, actor=actor)
    promotion.status = PromotionStatus.APPLIED
    promotion.save(update_fields=["status", "updated_at"])
    _decide(promotion, DecisionAction.APPLY, actor=actor, roles=roles, comment="", now=now,
            extra={"stage_before": promotion.from_stage, "stage_after": promotion.to_stage})


def promotion_reject(*, promotion_id: int, user, comment: str = "", now=None, via: str = Via.API) -> Promotion:
    with transaction.atomic():
        promotion = _locked_promotion(promotion_id)
        _ensure_approver(user, promotion, GuardedAction.REJECT_PROMOTION)
        if promotion.status not in OPEN_PROMOTION_STATUSES:
            raise Conflict(f"Promotion #{promotion.pk} is {promotion.status}; only an open one can be rejected.",
                           code="promotion_not_pending")
        before = promotion.status
        roles = sorted(user_roles(user))
        promotion.status = PromotionStatus.REJECTED
        promotion.save(update_fields=["status", "updated_at"])
        _decide(promotion, DecisionAction.REJECT, actor=user.get_username(), roles=roles, comment=comment, now=now)
        audit_record(actor=user.get_username(), actor_roles=roles, via=via, action="promotion_reject",
                     object_ref=f"promotion:{promotion.pk}",
                     details={"before": before, "after": PromotionStatus.REJECTED, "comment": comment})
    return promotion


def promotion_comment(*, promotion_id: int, user, comment: str) -> PromotionDecision:
    """A signed comment in the promotion's decision chain (approvers and operators of the strategy)."""
    if not comment.strip():
        raise InvalidInput("A comment needs text.", details={"fields": {"comment": ["required"]}})
    with transaction.atomic():
        promotion = _locked_promotion(promotion_id)
        scope = (strategies_for(user, StrategyPerm.APPROVE) | strategies_for(user, StrategyPerm.OPERATE))
        if not scope.filter(pk=promotion.strategy_id).exists():
            raise PermissionRefused(f"You may not comment on promotions of {promotion.strategy.name}.",
                                    code="not_in_strategy_scope")
        decision = _decide(promotion, DecisionAction.COMMENT, actor=user.get_username(),
                           roles=sorted(user_roles(user)), comment=comment.strip())
        audit_record(actor=user.get_username(), via=Via.API, action="promotion_comment",
                     object_ref=f"promotion:{promotion.pk}", details={"comment": comment.strip()})
    return decision


# --- rollback ----------------------------------------------------------------------------------

def promotion_rollback(*, promotion_id: int, user, reason: str, to_stage: str | None = None) -> Promotion:
    """Demote the strategy (default: to the stage before this promotion) and restore the champion
    it replaced. Always allowed to reduce risk: operators of the strategy and agents."""
    if not reason or not reason.strip():
        raise InvalidInput("Say why the promotion is rolled back.", details={"fields": {"reason": ["required"]}})
    roles = sorted(user_roles(user))
    with transaction.atomic():
        promotion = _locked_promotion(promotion_id)
        if Role.AGENT not in roles and not strategies_for(user, StrategyPerm.OPERATE).filter(
                pk=promotion.strategy_id).exists():
            raise PermissionRefused(f"You may not roll back promotions of {promotion.strategy.name}.",
                                    code="not_operator_for_strategy")
        result = _rollback(promotion=promotion, actor=user.get_username(), roles=roles, reason=reason.strip(),
                           to_stage=to_stage)
        audit_record(actor=user.get_username(), actor_roles=roles, via=Via.API, action="promotion_rollback",
                     object_ref=f"promotion:{promotion.pk}", details=result)
    return promotion


def promotion_rollback_by_rule(*, promotion_id: int, actor: str, reason: str, evidence: dict | None = None,
                               via: str = Via.WORKER) -> dict:
    """A rollback a rule decided (the autonomous lane, on live evidence that breaks the policy): the same
    signed decision as an agent's, to the stage before, recorded as ``actor`` (``system:…``) with the
    evidence it rests on in the audit row."""
    if not reason or not reason.strip():
        raise InvalidInput("Say why the promotion is rolled back.", details={"fields": {"reason": ["required"]}})
    with transaction.atomic():
        promotion = _locked_promotion(promotion_id)
        result = _rollback(promotion=promotion, actor=actor, roles=[], reason=reason.strip(), to_stage=None)
        audit_record(actor=actor, via=via, action="promotion_rollback", object_ref=f"promotion:{promotion.pk}",
                     details={**result, "reason": reason.strip(), "evidence": evidence or {}})
    return result


def _rollback(*, promotion: Promotion, actor: str, roles, reason: str, to_stage: str | None) -> dict:
    if promotion.status != PromotionStatus.APPLIED:
        raise Conflict(f"Promotion #{promotion.pk} is {promotion.status}; only an applied promotion is rolled back.",
                       code="promotion_not_applied")
    strategy = Strategy.objects.select_for_update().get(pk=promotion.strategy_id)
    target = to_stage or promotion.from_stage
    if target not in STAGE_RANK or STAGE_RANK[target] >= STAGE_RANK[strategy.stage]:
        raise PolicyRefused(f"A rollback moves {strategy.name} below {strategy.stage}; {target!r} is not lower.",
                            code="transition_not_allowed", details={"stage": strategy.stage, "target": target})
    now = timezone.now()
    before = strategy.stage
    strategy.stage, strategy.stage_changed_at = target, now
    strategy.save(update_fields=["stage", "stage_changed_at"])
    why = f"rolled back to {target} (promotion #{promotion.pk}): {reason}"
    candidate_lifecycle_set(candidate=promotion.candidate, role=LifecycleRole.DEMOTED, reason=why, actor=actor)
    restored = promotion.previous_champion
    if restored is not None and target != Stage.SHADOW and restored.pk != promotion.candidate_id:
        candidate_lifecycle_set(candidate=restored, role=LifecycleRole.CHAMPION, reason=why, actor=actor)
    promotion.status = PromotionStatus.ROLLED_BACK
    promotion.save(update_fields=["status", "updated_at"])
    _decide(promotion, DecisionAction.ROLLBACK, actor=actor, roles=roles, comment=reason, now=now,
            extra={"stage_before": before, "stage_after": target})
    return {"stage_before": before, "stage_after": target,
            "champion_restored": restored.candidate_id if restored is not None and target != Stage.SHADOW else None}


# --- replays ------------------------------------------------------------------------------------

def replay_record(*, promotion: Promotion, result: dict, actor: str) -> ReplayRecord:
    """Store one replay's outcome (``selectors.promotion_replay``'s result) for the readiness scorecard."""
    return ReplayRecord.objects.create(promotion=promotion, reproducible=bool(result["reproducible"]),
                                       mismatches=list(result["mismatches"])[:50],
                                       elapsed_ms=Decimal(str(result["elapsed_ms"])), created_by=actor)


def replay_sweep(*, actor: str = "system:replay-sweep") -> list[ReplayRecord]:
    """Replay the promotion every activation rests on (strategies at paper, canary, live) and record each
    outcome: the readiness scorecard's chain and replay-time criteria read these records."""
    records = []
    for _strategy, promotion in selectors.activation_promotions():
        if promotion is not None:
            records.append(replay_record(promotion=promotion, result=selectors.promotion_replay(promotion=promotion),
                                         actor=actor))
    return records
