"""Choices of the promotions app, defined once."""
from django.db import models


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active: signs new artifacts"
    RETIRED = "retired", "Retired: its signatures still verify"
    REVOKED = "revoked", "Revoked: its signatures no longer verify"


class DrillKind(models.TextChoices):
    KILL_SWITCH = "kill_switch", "Kill switch: an order would be refused under HALTED"
    ROLLBACK = "rollback", "Rollback: the previous stage and champion could be restored"


class PromotionStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved (not applied yet)"
    REJECTED = "rejected", "Rejected"
    APPLIED = "applied", "Applied"
    ROLLED_BACK = "rolled_back", "Rolled back"


OPEN_PROMOTION_STATUSES = (PromotionStatus.PENDING_APPROVAL, PromotionStatus.APPROVED)
PROMOTION_TRANSITIONS = [
    ("pending_approval", "approved"), ("pending_approval", "rejected"), ("pending_approval", "applied"),
    ("approved", "applied"), ("approved", "rejected"), ("applied", "rolled_back"),
]


class DecisionAction(models.TextChoices):
    REQUEST = "request", "Requested (AgentRun handoff)"
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"
    COMMENT = "comment", "Comment"
    APPLY = "apply", "Applied: the stage changed"
    ROLLBACK = "rollback", "Rolled back"


class OrchestrationStage(models.TextChoices):
    """torghut's AgentRun stages."""

    RESEARCH_INTAKE = "research-intake"
    CANDIDATE_BUILD = "candidate-build"
    BACKTEST_ROBUSTNESS = "backtest-robustness"
    GATE_EVALUATION = "gate-evaluation"
    SHADOW_PAPER = "shadow-paper"
    LIVE_RAMP = "live-ramp"
    CONTINUOUS_MONITORING = "continuous-monitoring"
    INCIDENT_RECOVERY = "incident-recovery"
    AUDIT_EVIDENCE = "audit-evidence"


class FailureClass(models.TextChoices):
    NONE = "", "None"
    TRANSIENT = "transient", "Transient (retry 4 times, backoff 15 s doubling to 300 s; pause after 5)"
    DETERMINISTIC = "deterministic", "Deterministic (pause after 2)"
    POLICY = "policy", "Policy (pause after 1)"
