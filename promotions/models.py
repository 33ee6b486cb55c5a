"""Gate policies, signing keys, drills, evaluations, AgentRun handoffs, promotions and their decisions.

A gate policy is a versioned, immutable document stored with its sha256; activating one is a
separate, append-only decision (the newest activation is in force). Signing keys are Ed25519:
the private half stays in a file under ``TORGHUT_SIGNING_KEY_DIR``, the public half and its
status live here so every verifier agrees on them.
"""
from __future__ import annotations

import uuid

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

from core.db import append_only
from ledger.models import ResearchCandidate, ResearchRun
from promotions.choices import (
    OPEN_PROMOTION_STATUSES,
    PROMOTION_TRANSITIONS,
    DecisionAction,
    DrillKind,
    FailureClass,
    KeyStatus,
    OrchestrationStage,
    PromotionStatus,
)
from strategies.choices import Stage
from strategies.models import Strategy


class GatePolicy(models.Model):
    version = models.CharField(max_length=64, unique=True)
    sha256 = models.CharField(max_length=64)
    document = models.JSONField(help_text="The policy as loaded; its canonical JSON hashes to sha256.")
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "promotion_gate_policies"
        ordering = ["-id"]
        verbose_name_plural = "gate policies"
        constraints = [
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="gate_policy_sha256"),
            models.CheckConstraint(condition=Q(version__regex=r"^[A-Za-z0-9._-]{1,64}$"), name="gate_policy_version"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return self.version


class PolicyActivation(models.Model):
    """Which policy new evaluations use: the newest row wins. Never changes afterwards."""

    policy = models.ForeignKey(GatePolicy, on_delete=models.PROTECT, related_name="activations")
    previous = models.ForeignKey(GatePolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor = models.CharField(max_length=150)
    reason = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "promotion_policy_activations"
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="policy_activation_reason")]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.policy.version} by {self.actor}"


class SigningKey(models.Model):
    key_id = models.CharField(max_length=40, unique=True)
    algorithm = models.CharField(max_length=16, default="ed25519")
    public_key = models.CharField(max_length=64, help_text="Raw public key, base64.")
    status = models.CharField(max_length=16, choices=KeyStatus.choices)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = "promotion_signing_keys"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="one_active_signing_key"),
            models.CheckConstraint(condition=Q(status__in=KeyStatus.values), name="signing_key_status_valid"),
            models.CheckConstraint(
                condition=~Q(status="revoked") | (Q(revoked_at__isnull=False) & ~Q(revoked_reason="")),
                name="signing_key_revocation_explained"),
        ]
        triggers = [
            # a key is never deleted, never changes its identity, and never becomes active again
            pgtrigger.Protect(name="signing_key_no_delete", operation=pgtrigger.Delete),
            pgtrigger.Protect(name="signing_key_identity", operation=pgtrigger.Update,
                              condition=pgtrigger.AnyChange("key_id", "public_key", "algorithm", "created_at")),
            pgtrigger.FSM(name="signing_key_status_fsm", field="status",
                          transitions=[("active", "retired"), ("active", "revoked"), ("retired", "revoked")]),
        ]

    def __str__(self) -> str:
        return f"{self.key_id} ({self.status})"


class Drill(models.Model):
    """A rehearsal without trading (gate 4 reads them): did the kill switch refuse, could a rollback restore?"""

    kind = models.CharField(max_length=16, choices=DrillKind.choices)
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, null=True, blank=True, related_name="drills",
                                 help_text="Empty: the drill counts for every strategy.")
    passed = models.BooleanField()
    evidence = models.JSONField(default=dict)
    created_by = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "promotion_drills"
        ordering = ["-id"]
        indexes = [models.Index(fields=["kind", "-at"], name="drill_kind_recent")]
        constraints = [models.CheckConstraint(condition=Q(kind__in=DrillKind.values), name="drill_kind_valid")]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.kind} drill {'passed' if self.passed else 'failed'}"


class Evaluation(models.Model):
    """A signed gate evaluation artifact: what was read, under which policy, and each gate's outcome."""

    evaluation_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="evaluations")
    run = models.ForeignKey(ResearchRun, on_delete=models.PROTECT, related_name="evaluations")
    candidate = models.ForeignKey(ResearchCandidate, on_delete=models.PROTECT, related_name="evaluations")
    target = models.CharField(max_length=16, choices=Stage.choices)
    policy = models.ForeignKey(GatePolicy, on_delete=models.PROTECT, related_name="evaluations")
    operations = models.JSONField(help_text="The operational evidence the gates read (drills, fills, reviews).")
    artifact = models.JSONField()
    artifact_sha256 = models.CharField(max_length=64)
    signature = models.TextField()
    key_id = models.CharField(max_length=40)
    allowed = models.BooleanField()
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "promotion_evaluations"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(artifact_sha256__regex=r"^[0-9a-f]{64}$"), name="evaluation_sha256"),
            models.CheckConstraint(condition=~Q(target="shadow"), name="evaluation_target_not_shadow"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.candidate_id} → {self.target} ({'allowed' if self.allowed else 'refused'})"


class AgentRun(models.Model):
    """An AgentRun handoff: a lane asks to promote a candidate, with a gate proof."""

    agent_run_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    research_run_id = models.CharField(max_length=64)
    candidate_id = models.CharField(max_length=128)
    promotion_target = models.CharField(max_length=16, choices=Stage.choices)
    gate_proof = models.JSONField()
    orchestration_stage = models.CharField(max_length=32, choices=OrchestrationStage.choices,
                                           default=OrchestrationStage.GATE_EVALUATION)
    failure_class = models.CharField(max_length=16, choices=FailureClass.choices, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=1)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "promotion_agent_runs"
        ordering = ["-id"]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"AgentRun {self.agent_run_id}"


class Promotion(models.Model):
    """One requested stage change of a strategy, resting on one evaluation."""

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="promotions")
    candidate = models.ForeignKey(ResearchCandidate, on_delete=models.PROTECT, related_name="promotions")
    evaluation = models.ForeignKey(Evaluation, on_delete=models.PROTECT, related_name="promotions")
    agent_run = models.OneToOneField(AgentRun, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="promotion")
    from_stage = models.CharField(max_length=16, choices=Stage.choices)
    to_stage = models.CharField(max_length=16, choices=Stage.choices)
    status = models.CharField(max_length=20, choices=PromotionStatus.choices, default=PromotionStatus.PENDING_APPROVAL)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    previous_champion = models.ForeignKey(ResearchCandidate, on_delete=models.PROTECT, null=True, blank=True,
                                          related_name="+", help_text="The champion this promotion replaced.")
    requested_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "promotions"
        ordering = ["-id"]
        indexes = [models.Index(fields=["strategy", "-id"], name="promotion_strategy_recent"),
                   models.Index(fields=["status", "-id"], name="promotion_status_recent")]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "to_stage"], condition=Q(status__in=OPEN_PROMOTION_STATUSES),
                                    name="one_open_promotion_per_strategy_target"),
            models.CheckConstraint(condition=Q(status__in=PromotionStatus.values), name="promotion_status_valid"),
            models.CheckConstraint(condition=~Q(to_stage="shadow"), name="promotion_target_not_shadow"),
            models.CheckConstraint(condition=Q(approvals_required__gte=1), name="promotion_needs_approval"),
        ]
        triggers = [
            pgtrigger.FSM(name="promotion_status_fsm", field="status", transitions=PROMOTION_TRANSITIONS),
            pgtrigger.Protect(name="promotion_no_delete", operation=pgtrigger.Delete),
            pgtrigger.Protect(name="promotion_facts_fixed", operation=pgtrigger.Update,
                              condition=pgtrigger.AnyChange("strategy", "candidate", "evaluation", "from_stage",
                                                            "to_stage", "requested_by", "approvals_required")),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.strategy_id}: {self.from_stage} → {self.to_stage} ({self.status})"


class PromotionDecision(models.Model):
    """A signed, hash-chained decision on a promotion (request, approve, reject, apply, rollback, comment)."""

    promotion = models.ForeignKey(Promotion, on_delete=models.PROTECT, related_name="decisions")
    action = models.CharField(max_length=16, choices=DecisionAction.choices)
    actor = models.CharField(max_length=150)
    actor_roles = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    requested_by = models.CharField(max_length=150, help_text="The promotion's requester (kept here for the check).")
    comment = models.TextField(blank=True, default="")
    document = models.JSONField(help_text="What was signed: the decision, the evaluation it rests on, the chain.")
    decision_sha256 = models.CharField(max_length=64, unique=True)
    previous_sha256 = models.CharField(max_length=64, blank=True, default="")
    signature = models.TextField()
    key_id = models.CharField(max_length=40)
    at = models.DateTimeField()

    class Meta:
        db_table = "promotion_decisions"
        ordering = ["promotion_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(action__in=DecisionAction.values), name="decision_action_valid"),
            models.CheckConstraint(condition=~Q(action="approve") | ~Q(actor=F("requested_by")),
                                   name="approver_is_not_requester"),
            models.CheckConstraint(condition=Q(decision_sha256__regex=r"^[0-9a-f]{64}$"), name="decision_sha256"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor}"


class ReplayRecord(models.Model):
    """One replay of a promotion (command, sweep): was it reproducible, and how long did it take?
    The readiness scorecard reads the slowest of its window."""

    promotion = models.ForeignKey(Promotion, on_delete=models.PROTECT, related_name="replays")
    reproducible = models.BooleanField()
    mismatches = models.JSONField(default=list)
    elapsed_ms = models.DecimalField(max_digits=12, decimal_places=2)
    created_by = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "promotion_replays"
        ordering = ["-id"]
        indexes = [models.Index(fields=["-at"], name="replay_recent")]
        constraints = [models.CheckConstraint(condition=Q(elapsed_ms__gte=0), name="replay_elapsed_nonnegative")]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"replay of #{self.promotion_id}: {'reproducible' if self.reproducible else 'NOT reproducible'}"
