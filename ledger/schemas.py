"""The strict, versioned schema of run artifacts (``torghut.research-run/v1``).

Validation happens here, at the edge, before anything touches the database. Errors carry
field paths such as ``candidates[0].folds[2].test_start``.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from core.columns import column_decimal_text, column_int, column_text
from core.timestamps import Timestamp
from ledger.choices import StressCase
from ledger.models import FeatureSnapshot, FoldMetric, ResearchCandidate, ResearchRun
from strategies.models import NAME_PATTERN as STRATEGY_NAME_PATTERN

SCHEMA_V1 = "torghut.research-run/v1"

RunId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
CandidateId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
Fingerprint = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
Symbol = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9.\-/]{1,32}$")]

# Every stored value is bounded by its column (core.columns): counts are strict JSON integers
# within the integer column, texts fit their varchar, timestamps lie in core.timestamps' range.
CandidateCount = column_int(ResearchCandidate, "decision_count")
FoldCount = column_int(FoldMetric, "decision_count")
FoldOrder = column_int(FoldMetric, "fold_order")
StalenessMs = column_int(FeatureSnapshot, "staleness_ms_p95", ge=0)
StrategyVersion = column_text(ResearchRun, "strategy_version", min_length=1)
StrategyType = column_text(ResearchRun, "strategy_type", min_length=1)
CodeCommit = column_text(ResearchRun, "code_commit", min_length=1)
RunnerVersion = column_text(ResearchRun, "runner_version", min_length=1)
DatasetVersion = column_text(ResearchRun, "dataset_version", min_length=1)
SnapshotRef = column_text(ResearchRun, "dataset_snapshot_ref")
FeatureSchemaVersion = column_text(FeatureSnapshot, "schema_version", min_length=1)
FoldName = column_text(FoldMetric, "fold_name", min_length=1)
# Decimals travel as JSON strings of one shape (core.columns); every money column is numeric(24, 8).
DecimalStr = column_decimal_text(FoldMetric, "net_pnl")


def _check_non_negative(value: str) -> str:
    if Decimal(value) < 0:
        raise ValueError("must not be negative")
    return value


def _check_ratio(value: str) -> str:
    if not (0 <= Decimal(value) <= 1):
        raise ValueError("must be between 0 and 1")
    return value


NonNegativeDecimalStr = Annotated[DecimalStr, AfterValidator(_check_non_negative)]
RatioStr = Annotated[DecimalStr, AfterValidator(_check_ratio)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StrategyV1(_Strict):
    name: Annotated[str, StringConstraints(pattern=STRATEGY_NAME_PATTERN)]
    version: StrategyVersion
    type: StrategyType


class DatasetV1(_Strict):
    version: DatasetVersion
    fingerprint: Fingerprint
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    snapshot_ref: SnapshotRef = ""
    symbols: list[Symbol] = Field(min_length=1)

    @model_validator(mode="after")
    def _window(self):
        if self.from_ > self.to:
            raise ValueError("dataset.from must not be after dataset.to")
        return self


class FeaturesV1(_Strict):
    schema_version: FeatureSchemaVersion
    spec_hash: Fingerprint
    snapshot_fingerprint: Fingerprint
    null_rate: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], RatioStr]
    staleness_ms_p95: StalenessMs


class FoldV1(_Strict):
    name: FoldName
    order: FoldOrder
    train_start: Timestamp
    train_end: Timestamp
    test_start: Timestamp
    test_end: Timestamp
    decision_count: FoldCount
    trade_count: FoldCount
    gross_pnl: DecimalStr
    net_pnl: DecimalStr
    max_drawdown: NonNegativeDecimalStr
    turnover_ratio: NonNegativeDecimalStr
    cost_bps: NonNegativeDecimalStr
    sharpe: DecimalStr | None = None
    regime_label: Annotated[str, StringConstraints(
        pattern=r"^(vol=(low|mid|high)\|trend=(up|down|flat)\|liq=(liquid|illiquid))?$")] = ""

    @model_validator(mode="after")
    def _windows(self):
        if self.train_start > self.train_end:
            raise ValueError("train_start must not be after train_end")
        if not self.train_end < self.test_start:
            raise ValueError("the train window must end before the test window starts")
        if self.test_start > self.test_end:
            raise ValueError("test_start must not be after test_end")
        return self


class StressV1(_Strict):
    case: StressCase
    net_pnl: DecimalStr
    max_drawdown: NonNegativeDecimalStr
    pessimistic_pnl_delta: DecimalStr


class CandidateV1(_Strict):
    candidate_id: CandidateId
    parameter_set: dict[str, Any]
    decision_count: CandidateCount
    trade_count: CandidateCount
    symbols: list[Symbol]
    folds: list[FoldV1]
    stress: list[StressV1] = []

    @model_validator(mode="after")
    def _consistency(self):
        names = [f.name for f in self.folds]
        if len(set(names)) != len(names):
            raise ValueError("fold names must be unique within a candidate")
        orders = [f.order for f in self.folds]
        if len(set(orders)) != len(orders):
            raise ValueError("fold orders must be unique within a candidate")
        ordered = sorted(self.folds, key=lambda f: f.test_start)
        for earlier, later in zip(ordered, ordered[1:], strict=False):
            if later.test_start <= earlier.test_end:
                raise ValueError(f"test windows of folds {earlier.name!r} and {later.name!r} overlap")
        cases = [s.case for s in self.stress]
        if len(set(cases)) != len(cases):
            raise ValueError("each stress case may appear once per candidate")
        return self


class ResearchRunV1(_Strict):
    schema_version: Literal["torghut.research-run/v1"]
    run_id: RunId
    status: Literal["passed", "failed", "skipped"]
    strategy: StrategyV1
    code_commit: CodeCommit
    runner_version: RunnerVersion
    dataset: DatasetV1
    features: FeaturesV1
    candidates: list[CandidateV1]

    @model_validator(mode="after")
    def _unique_candidates(self):
        ids = [c.candidate_id for c in self.candidates]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"candidate ids must be unique within the run: {', '.join(duplicates)}")
        return self


SCHEMAS: dict[str, type[BaseModel]] = {SCHEMA_V1: ResearchRunV1}


def parse_artifact(body: Any) -> BaseModel:
    """Validate an artifact against the schema its ``schema_version`` names."""
    if not isinstance(body, dict):
        raise ValueError("the artifact must be a JSON object")
    version = body.get("schema_version")
    schema = SCHEMAS.get(version) if isinstance(version, str) else None
    if schema is None:
        raise KeyError(version)
    return schema.model_validate(body)


class StoredCandidateV1(CandidateV1):
    """A candidate as the API returns it: the submitted candidate plus ledger facts."""

    candidate_hash: str
    lifecycle_role: Literal["champion", "challenger", "demoted"]


class StoredRunV1(ResearchRunV1):
    """A stored run as the API returns it: the artifact exactly as accepted, plus ledger facts."""

    candidates: list[StoredCandidateV1]
    artifact_sha256: str
    created_by: str
    created_at: AwareDatetime


class RunCreatedV1(_Strict):
    run_id: str
    artifact_sha256: str
    candidate_ids: list[str]
