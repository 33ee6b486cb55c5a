"""Writes to the research ledger. One strict writer: every path (API, ``ingest_run``, the
walk-forward runner) stores runs through :func:`run_ingest`."""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from pydantic import ValidationError

from ledger.canonical import canonical_json, content_sha256, sha256_hex
from ledger.choices import DatasetSource, LifecycleRole
from ledger.models import (
    CandidateLifecycleEvent,
    Dataset,
    FeatureSnapshot,
    FoldMetric,
    ResearchCandidate,
    ResearchRun,
    Strategy,
    StressMetric,
)
from ledger.schemas import SCHEMAS, ResearchRunV1, parse_artifact, validation_details
from torghut_site.api import Conflict, InvalidInput


@dataclass(frozen=True)
class IngestResult:
    run: ResearchRun
    created: bool
    artifact_sha256: str
    candidate_ids: list[str]


def _invalid(fields: dict[str, list[str]]) -> InvalidInput:
    first = "; ".join(f"{k}: {' '.join(v)}" for k, v in list(fields.items())[:3])
    more = f" (and {len(fields) - 3} more)" if len(fields) > 3 else ""
    return InvalidInput(f"The run artifact is invalid: {first}{more}", code="invalid_artifact",
                        details={"fields": fields})


def artifact_parse(body: Any) -> ResearchRunV1:
    """Validate a raw artifact (dict or JSON bytes/str); raise InvalidInput naming field paths."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as exc:
            raise _invalid({"(root)": [f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]})
    try:
        return parse_artifact(body)
    except ValidationError as exc:
        raise _invalid(validation_details(exc)) from None
    except KeyError:
        known = ", ".join(SCHEMAS)
        raise _invalid({"schema_version": [f"unknown schema version; this server accepts: {known}"]}) from None
    except ValueError as exc:
        raise _invalid({"(root)": [str(exc)]}) from None


def _strategy_for(name: str) -> Strategy:
    strategy, _ = Strategy.objects.get_or_create(name=name)
    return strategy


def run_ingest(*, body: Any, actor: str = "") -> IngestResult:
    """Store one complete run atomically, or return the stored one when the body is identical.

    Raises ``InvalidInput`` (400, nothing written) and ``Conflict`` (409 ``run_conflict`` /
    ``candidate_conflict`` / ``dataset_conflict``).
    """
    artifact = artifact_parse(body)
    raw = body if isinstance(body, dict) else json.loads(body)
    digest = sha256_hex(canonical_json(raw))
    with transaction.atomic():
        # Serialise writers of the same run_id; different runs proceed in parallel.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"run:{artifact.run_id}"])
        existing = ResearchRun.objects.filter(run_id=artifact.run_id).first()
        if existing is not None:
            if existing.artifact_sha256 == digest:
                ids = list(existing.candidates.order_by("position").values_list("candidate_id", flat=True))
                return IngestResult(run=existing, created=False, artifact_sha256=digest, candidate_ids=ids)
            raise Conflict(
                f"run {artifact.run_id!r} is already stored with different content "
                f"(stored artifact_sha256 {existing.artifact_sha256}, this one {digest}).",
                code="run_conflict",
                details={"run_id": artifact.run_id, "stored_artifact_sha256": existing.artifact_sha256,
                         "artifact_sha256": digest},
            )
        candidate_ids = [c.candidate_id for c in artifact.candidates]
        taken = list(ResearchCandidate.objects.filter(candidate_id__in=candidate_ids)
                     .values_list("candidate_id", flat=True))
        if taken:
            raise Conflict(f"candidate ids already belong to other runs: {', '.join(sorted(taken))}",
                           code="candidate_conflict", details={"candidate_ids": sorted(taken)})
        run = _write_run(artifact, raw, digest, actor)
    return IngestResult(run=run, created=True, artifact_sha256=digest, candidate_ids=candidate_ids)


def _dataset_for(artifact: ResearchRunV1) -> Dataset:
    ds = artifact.dataset
    dataset, _ = Dataset.objects.get_or_create(
        fingerprint=ds.fingerprint,
        defaults={"version": ds.version, "source": DatasetSource.EXTERNAL, "symbols": sorted(ds.symbols),
                  "first_ts": ds.from_, "last_ts": ds.to, "snapshot_ref": ds.snapshot_ref},
    )
    return dataset


def _feature_snapshot_for(artifact: ResearchRunV1) -> FeatureSnapshot:
    f = artifact.features
    snapshot, created = FeatureSnapshot.objects.get_or_create(
        snapshot_fingerprint=f.snapshot_fingerprint,
        defaults={"schema_version": f.schema_version, "spec_hash": f.spec_hash, "null_rate": dict(f.null_rate),
                  "staleness_ms_p95": f.staleness_ms_p95},
    )
    if not created and (snapshot.spec_hash != f.spec_hash or snapshot.schema_version != f.schema_version):
        raise Conflict(
            "features.snapshot_fingerprint is already stored with a different spec_hash or schema_version.",
            code="feature_snapshot_conflict",
            details={"snapshot_fingerprint": f.snapshot_fingerprint, "stored_spec_hash": snapshot.spec_hash},
        )
    return snapshot


def _write_run(artifact: ResearchRunV1, raw: dict[str, Any], digest: str, actor: str) -> ResearchRun:
    ds = artifact.dataset
    run = ResearchRun.objects.create(
        run_id=artifact.run_id,
        schema_version=artifact.schema_version,
        status=artifact.status,
        strategy=_strategy_for(artifact.strategy.name),
        strategy_name=artifact.strategy.name,
        strategy_type=artifact.strategy.type,
        strategy_version=artifact.strategy.version,
        code_commit=artifact.code_commit,
        runner_version=artifact.runner_version,
        dataset=_dataset_for(artifact),
        dataset_version=ds.version,
        dataset_from=ds.from_,
        dataset_to=ds.to,
        dataset_snapshot_ref=ds.snapshot_ref,
        dataset_symbols=list(ds.symbols),
        feature_snapshot=_feature_snapshot_for(artifact),
        feature_schema_version=artifact.features.schema_version,
        feature_spec_hash=artifact.features.spec_hash,
        artifact_sha256=digest,
        artifact=raw,
        created_by=actor,
    )
    candidates = ResearchCandidate.objects.bulk_create([
        ResearchCandidate(
            run=run,
            candidate_id=c.candidate_id,
            candidate_hash=content_sha256(raw["candidates"][i]),
            position=i,
            parameter_set=c.parameter_set,
            decision_count=c.decision_count,
            trade_count=c.trade_count,
            symbols_covered=list(c.symbols),
        )
        for i, c in enumerate(artifact.candidates)
    ])
    folds: list[FoldMetric] = []
    stress: list[StressMetric] = []
    events: list[CandidateLifecycleEvent] = []
    for row, c in zip(candidates, artifact.candidates, strict=True):
        events.append(CandidateLifecycleEvent(candidate=row, role=LifecycleRole.CHALLENGER,
                                              reason=f"recorded by run {artifact.run_id}", actor=actor))
        for f in c.folds:
            folds.append(FoldMetric(
                candidate=row, fold_name=f.name, fold_order=f.order,
                train_start=f.train_start, train_end=f.train_end, test_start=f.test_start, test_end=f.test_end,
                decision_count=f.decision_count, trade_count=f.trade_count,
                gross_pnl=Decimal(f.gross_pnl), net_pnl=Decimal(f.net_pnl), max_drawdown=Decimal(f.max_drawdown),
                turnover_ratio=Decimal(f.turnover_ratio), cost_bps=Decimal(f.cost_bps),
                sharpe=Decimal(f.sharpe) if f.sharpe is not None else None, regime_label=f.regime_label,
            ))
        for s in c.stress:
            stress.append(StressMetric(
                candidate=row, stress_case=s.case, net_pnl=Decimal(s.net_pnl),
                max_drawdown=Decimal(s.max_drawdown), pessimistic_pnl_delta=Decimal(s.pessimistic_pnl_delta),
            ))
    FoldMetric.objects.bulk_create(folds, batch_size=2000)
    StressMetric.objects.bulk_create(stress, batch_size=2000)
    CandidateLifecycleEvent.objects.bulk_create(events)
    return run


def candidate_lifecycle_set(*, candidate: ResearchCandidate, role: str, reason: str, actor: str) -> None:
    """Record a new lifecycle role for a candidate (history is append-only)."""
    if role not in LifecycleRole.values:
        raise InvalidInput(f"unknown lifecycle role {role!r}", details={"fields": {"role": ["unknown role"]}})
    CandidateLifecycleEvent.objects.create(candidate=candidate, role=role, reason=reason, actor=actor)
