"""Request and response shapes of the promotions API (pydantic: one definition validates and documents)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from strategies.models import NAME_PATTERN

CandidateId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
RunId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Target = Literal["paper", "canary", "live"]
StageName = Literal["shadow", "paper", "canary", "live"]
Text = Annotated[str, StringConstraints(max_length=2000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvaluationIn(_In):
    candidate_id: CandidateId
    target: Target


class GateOut(BaseModel):
    gate_id: str
    status: Literal["pass", "fail", "inconclusive"]
    reasons: list[str]
    observed: dict[str, Any]
    thresholds: dict[str, Any]


class EvaluationOut(BaseModel):
    evaluation_id: str
    candidate_id: str
    run_id: str
    target: Target
    policy_version: str
    gates: list[GateOut]
    allowed: bool
    recommended_mode: StageName
    artifact_sha256: str
    signature: str
    key_id: str


class GateProofIn(BaseModel):
    evaluation_id: str | None = None
    artifact_sha256: str | None = None
    signature: str | None = None


class AgentRunIn(_In):
    run_id: RunId
    candidate_id: CandidateId
    promotion_target: Target
    gate_proof: dict[str, Any] | None = None


class AgentRunOut(BaseModel):
    agent_run_id: str
    promotion_id: int
    status: str


class DecisionIn(_In):
    comment: Text = ""


class CommentIn(_In):
    comment: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class RollbackIn(_In):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    to_stage: StageName | None = None


class DrillIn(_In):
    kind: Literal["kill_switch", "rollback"]
    strategy: Annotated[str, StringConstraints(pattern=NAME_PATTERN)] | None = None


class DrillOut(BaseModel):
    id: int
    kind: str
    strategy: str | None
    passed: bool
    evidence: dict[str, Any]
    at: datetime


class ApprovalOut(BaseModel):
    user: str
    decision: str
    comment: str
    at: str


class PromotionOut(BaseModel):
    id: int
    strategy: str
    candidate_id: str
    from_stage: StageName
    to_stage: Target
    status: Literal["pending_approval", "approved", "rejected", "applied", "rolled_back"]
    approvals: list[ApprovalOut]
    approvals_required: int
    evaluation_id: str
    decision_sha256: str | None
    signature: str | None
    key_id: str | None
    requested_by: str
    agent_run_id: str | None
    created_at: str
    updated_at: str


class ReplayOut(BaseModel):
    promotion_id: int
    reproducible: bool
    mismatches: list[str]
    original: dict[str, Any]
    replayed: dict[str, Any]
    elapsed_ms: float


class StrategyOut(BaseModel):
    name: str
    stage: StageName
    champion_candidate_id: str | None
    trading_state: Literal["ACTIVE", "REDUCING", "HALTED"]
    stage_changed_at: datetime | None
