"""Writes to the research ledger. One strict writer: every path (API, ``ingest_run``, the
walk-forward runner) stores runs through :func:`run_ingest`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from pydantic import ValidationError

from core import locks
from core.canonical import canonical_json, content_sha256, sha256_hex
from core.errors import Conflict, InvalidInput, invalid_fields
from core.jsonparse import JSONRefused, strict_loads
from core.validation import validation_details
from ledger.choices import DatasetSource, LifecycleRole
from ledger.models import (
    CandidateLifecycleEvent,
    Dataset,
    FeatureSnapshot,
    FoldMetric,
    ResearchCandidate,
    ResearchRun,
    RunSummary,
    StressMetric,
)
from ledger.schemas import SCHEMAS, ResearchRunV1, parse_artifact
from strategies.services import strategy_register


@dataclass(frozen=True)
class IngestResult:
    run: ResearchRun
    created: bool
    artifact_sha256: str
    candidate_ids: list[str]


def _invalid(fields: dict[str, list[str]]) -> InvalidInput:
    return invalid_fields("The run artifact is invalid", fields, code="invalid_artifact")


def artifact_load(body: Any) -> Any:
    """The artifact as Python data: JSON bytes/str go through the strict parser (as API bodies do)."""
    if isinstance(body, bytes | str):
        try:
            return strict_loads(body)
        except JSONRefused as exc:
            raise InvalidInput(exc.message, code=exc.code, details=exc.details) from None
    return body


def artifact_parse(body: Any) -> ResearchRunV1:
    """Validate a raw artifact (dict or JSON bytes/str); raise InvalidInput naming field paths."""
    body = artifact_load(body)
    try:
        return parse_artifact(body)
    except ValidationError as exc:
        raise _invalid(validation_details(exc)) from None
    except KeyError:
        known = ", ".join(SCHEMAS)
        raise _invalid({"schema_version": [f"unknown schema version; this server accepts: {known}"]}) from None
    except ValueError as exc:
        raise _invalid({"(root)": [str(exc)]}) from None


def run_ingest(*, body: Any, actor: str = "") -> IngestResult:
    """Store one complete run atomically, or return the stored one when the body is identical.

    Raises ``InvalidInput`` (400, nothing written) and ``Conflict`` (409 ``run_conflict`` /
    ``candidate_conflict`` / ``dataset_conflict`` / ``feature_snapshot_conflict``).
    """
    raw = artifact_load(body)
    artifact = artifact_parse(raw)
    digest = sha256_hex(canonical_json(raw))
    with transaction.atomic():
        # Serialise writers of the same run_id; different runs proceed in parallel.
        locks.xact_lock(f"run:{artifact.run_id}")
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
        _refuse_taken_candidates(candidate_ids)
        run = _write_run(artifact, raw, digest, actor)
        run_summary_refresh(run_pk=run.pk, new=True)
    return IngestResult(run=run, created=True, artifact_sha256=digest, candidate_ids=candidate_ids)


def _refuse_taken_candidates(candidate_ids: list[str]) -> None:
    taken = sorted(ResearchCandidate.objects.filter(candidate_id__in=candidate_ids)
                   .values_list("candidate_id", flat=True))
    if taken:
        raise Conflict(f"candidate ids already belong to other runs: {', '.join(taken)}",
                       code="candidate_conflict", details={"candidate_ids": taken})


def _differences(stored: dict[str, Any], claimed: dict[str, Any]) -> list[str]:
    return [name for name, value in claimed.items() if stored[name] != value]


def _dataset_for(artifact: ResearchRunV1) -> Dataset:
    """The dataset the fingerprint names, stored on first sight.

    A fingerprint is the hash of the dataset's rows, so the symbols and the time span are facts of
    that content: a run naming a stored fingerprint must agree with them (409 ``dataset_conflict``).
    For a dataset known only from artifacts, the first artifact's symbols, from and to are what was
    stored. For a dataset with stored bars, from is its first bar and to may lie past its last bar
    (the runner writes the end of the last bar). The version name and snapshot_ref are labels of
    the same content (each run keeps its own copy of them) and are not compared.
    """
    ds = artifact.dataset
    dataset, created = Dataset.objects.get_or_create(
        fingerprint=ds.fingerprint,
        defaults={"version": ds.version, "source": DatasetSource.EXTERNAL, "symbols": sorted(ds.symbols),
                  "first_ts": ds.from_, "last_ts": ds.to, "snapshot_ref": ds.snapshot_ref},
    )
    if created:
        return dataset
    differs = []
    if sorted(set(dataset.symbols)) != sorted(set(ds.symbols)):
        differs.append("dataset.symbols")
    if dataset.first_ts != ds.from_:
        differs.append("dataset.from")
    if dataset.bar_count:  # the run must cover the last stored bar
        to_agrees = dataset.last_ts is not None and dataset.last_ts <= ds.to
    else:
        to_agrees = dataset.last_ts == ds.to
    if not to_agrees:
        differs.append("dataset.to")
    if differs:
        raise Conflict(
            f"dataset.fingerprint {ds.fingerprint} is already stored with other content ({', '.join(differs)} "
            "differ); a fingerprint names one dataset.",
            code="dataset_conflict",
            details={"fingerprint": ds.fingerprint, "differs": differs,
                     "stored": {"symbols": dataset.symbols, "from": dataset.first_ts, "to": dataset.last_ts,
                                "bar_count": dataset.bar_count}},
        )
    return dataset


def _feature_snapshot_for(artifact: ResearchRunV1) -> FeatureSnapshot:
    """The feature snapshot the fingerprint names, stored on first sight; a fingerprint names one
    content, so a stored one with other values is a 409 ``feature_snapshot_conflict``."""
    f = artifact.features
    claimed = {"schema_version": f.schema_version, "spec_hash": f.spec_hash, "null_rate": dict(f.null_rate),
               "staleness_ms_p95": f.staleness_ms_p95}
    snapshot, created = FeatureSnapshot.objects.get_or_create(snapshot_fingerprint=f.snapshot_fingerprint,
                                                              defaults=claimed)
    differs = [] if created else _differences({name: getattr(snapshot, name) for name in claimed}, claimed)
    if differs:
        raise Conflict(
            f"features.snapshot_fingerprint {f.snapshot_fingerprint} is already stored with other content "
            f"({', '.join('features.' + name for name in differs)} differ); a fingerprint names one content.",
            code="feature_snapshot_conflict",
            details={"snapshot_fingerprint": f.snapshot_fingerprint,
                     "differs": [f"features.{name}" for name in differs],
                     "stored": {name: getattr(snapshot, name) for name in differs}},
        )
    return snapshot


def _write_run(artifact: ResearchRunV1, raw: dict[str, Any], digest: str, actor: str) -> ResearchRun:
    ds = artifact.dataset
    run = ResearchRun.objects.create(
        run_id=artifact.run_id,
        schema_version=artifact.schema_version,
        status=artifact.status,
        strategy=strategy_register(name=artifact.strategy.name),
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
    try:
        # A concurrent run may take one of these candidate ids after the check above: its insert
        # waits for that run to commit, then fails; the savepoint keeps this transaction usable
        # to say which ids (409 candidate_conflict) instead of an IntegrityError.
        with transaction.atomic():
            candidates = _insert_candidates(artifact, raw, run, actor)
    except IntegrityError:
        _refuse_taken_candidates([c.candidate_id for c in artifact.candidates])
        raise
    # Folds and stress rows (the bulk of a run) go in with COPY, inside the same transaction.
    _copy_folds_and_stress(artifact, candidates)
    return run


def _insert_candidates(artifact: ResearchRunV1, raw: dict[str, Any], run: ResearchRun,
                       actor: str) -> list[ResearchCandidate]:
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
    events = [CandidateLifecycleEvent(candidate=row, role=LifecycleRole.CHALLENGER,
                                      reason=f"recorded by run {artifact.run_id}", actor=actor)
              for row in candidates]
    CandidateLifecycleEvent.objects.bulk_create(events)
    return candidates


def _copy_folds_and_stress(artifact: ResearchRunV1, candidates: list[ResearchCandidate]) -> None:
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {FoldMetric._meta.db_table} (candidate_id, fold_name, fold_order, train_start, "
                      "train_end, test_start, test_end, decision_count, trade_count, gross_pnl, net_pnl, "
                      "max_drawdown, turnover_ratio, cost_bps, sharpe, regime_label) FROM STDIN") as copy:
            for row, c in zip(candidates, artifact.candidates, strict=True):
                for f in c.folds:
                    copy.write_row((row.pk, f.name, f.order, f.train_start, f.train_end, f.test_start, f.test_end,
                                    f.decision_count, f.trade_count, f.gross_pnl, f.net_pnl, f.max_drawdown,
                                    f.turnover_ratio, f.cost_bps, f.sharpe, f.regime_label))
        with raw.copy(f"COPY {StressMetric._meta.db_table} (candidate_id, stress_case, net_pnl, max_drawdown, "
                      "pessimistic_pnl_delta) FROM STDIN") as copy:
            for row, c in zip(candidates, artifact.candidates, strict=True):
                for st in c.stress:
                    copy.write_row((row.pk, str(st.case), st.net_pnl, st.max_drawdown, st.pessimistic_pnl_delta))


def candidate_lifecycle_set(*, candidate: ResearchCandidate, role: str, reason: str, actor: str) -> None:
    """Record a new lifecycle role for a candidate (history is append-only)."""
    if role not in LifecycleRole.values:
        raise InvalidInput(f"unknown lifecycle role {role!r}", details={"fields": {"role": ["unknown role"]}})
    CandidateLifecycleEvent.objects.create(candidate=candidate, role=role, reason=reason, actor=actor)


# --- Run summaries (derived figures the runs list sorts on) ----------------------------------

# Per candidate of one run: net P&L over its test folds, mean fold Sharpe, worst fold drawdown.
_CANDIDATE_FIGURES_SQL = """
    SELECT c.id, c.candidate_id, sum(f.net_pnl), round(avg(f.sharpe), 8), max(f.max_drawdown), count(f.id)
    FROM research_candidates c LEFT JOIN research_fold_metrics f ON f.candidate_id = c.id
    WHERE c.run_id = %s GROUP BY c.id ORDER BY sum(f.net_pnl) DESC NULLS LAST, c.position"""


def run_summary_refresh(*, run_pk: int, new: bool = False) -> RunSummary:
    """(Re)compute a run's summary: its best candidate (highest net P&L over the test folds, the
    earlier one on ties) with that candidate's figures, and the deflated Sharpe ratio and PBO as
    the active gate policy computes them (through :mod:`ledger.scoring`). Two queries and a write;
    ``new`` (the ingest of the run) only inserts, which is all the research role may do."""
    from ledger import scoring

    with connection.cursor() as cursor:
        cursor.execute(_CANDIDATE_FIGURES_SQL, [run_pk])
        figures = cursor.fetchall()
        fold_pnl: dict[str, dict[int, float]] = {}
        if len(figures) > 1:
            cursor.execute("SELECT c.candidate_id, f.fold_order, f.net_pnl::float8 FROM research_fold_metrics f "
                           "JOIN research_candidates c ON c.id = f.candidate_id WHERE c.run_id = %s", [run_pk])
            for cid, order, pnl in cursor.fetchall():
                fold_pnl.setdefault(cid, {})[order] = pnl
    values = {"candidate_count": len(figures), "best_candidate_id": None, "fold_count": 0, "net_pnl": None,
              "sharpe": None, "max_drawdown": None, "deflated_sharpe": None, "pbo": None,
              "selection_policy": "", "selection_note": "the run has no candidates"}
    if figures:
        pk, candidate_id, net, sharpe, drawdown, folds = figures[0]
        values.update(best_candidate_id=pk, fold_count=folds, net_pnl=net, sharpe=sharpe, max_drawdown=drawdown)
        selection = scoring.selection(fold_pnl) if fold_pnl else scoring.Selection(
            note="one candidate: selection bias is not judged")
        values.update(deflated_sharpe=selection.deflated_sharpe.get(candidate_id), pbo=selection.pbo,
                      selection_policy=selection.policy, selection_note=selection.note)
    if new:
        return RunSummary.objects.create(run_id=run_pk, **values)
    summary, _ = RunSummary.objects.update_or_create(run_id=run_pk, defaults=values)
    return summary


def run_summaries_refresh(*, only_missing: bool = False) -> int:
    """Refresh every run's summary (after a policy activation), or only those without one."""
    runs = ResearchRun.objects.order_by("id")
    if only_missing:
        runs = runs.filter(summary__isnull=True)
    count = 0
    for run_pk in runs.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            run_summary_refresh(run_pk=run_pk)
        count += 1
    return count


# --- Datasets and the walk-forward runner ----------------------------------------------------

def dataset_store_bars(*, bars, version: str, source: str, snapshot_ref: str = "",
                       actor: str = "") -> tuple[Dataset, bool]:
    """Store a BarSet as a dataset keyed by its fingerprint. Idempotent: the same rows give the
    same fingerprint and the stored dataset is returned unchanged.

    Rows go in with COPY through a staging table, written from the same canonical rows the
    fingerprint is computed over, so what is stored hashes to the fingerprint exactly.
    """
    from ledger.walkforward.bars import validate_barset
    from ledger.walkforward.fingerprint import canonical_rows, dataset_fingerprint

    if not bars:
        raise InvalidInput("a dataset needs at least one symbol with bars",
                           details={"fields": {"bars": ["empty"]}})
    try:
        validate_barset(bars)
    except ValueError as exc:
        raise InvalidInput(f"invalid bars: {exc}", details={"fields": {"bars": [str(exc)]}}) from None
    fingerprint = dataset_fingerprint(bars)
    with transaction.atomic():
        locks.xact_lock(f"dataset:{fingerprint}")
        existing = Dataset.objects.filter(fingerprint=fingerprint).first()
        if existing is not None and existing.bar_count:
            return existing, False
        if existing is not None:
            raise Conflict("this dataset is known only by fingerprint (named by a run artifact); "
                           "its rows cannot be attached afterwards because datasets are append-only.",
                           code="dataset_conflict", details={"fingerprint": fingerprint})
        first = min(int(sb.ts[0]) for sb in bars.values())
        last = max(int(sb.ts[-1]) for sb in bars.values())
        from datetime import UTC, datetime
        dataset = Dataset.objects.create(
            fingerprint=fingerprint, version=version, source=source, symbols=sorted(bars),
            first_ts=datetime.fromtimestamp(first, UTC), last_ts=datetime.fromtimestamp(last, UTC),
            bar_count=sum(len(sb) for sb in bars.values()), snapshot_ref=snapshot_ref,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE research_bars_stage (symbol text, ts bigint, open numeric, high numeric, "
                "low numeric, close numeric, volume numeric, spread_bps numeric) ON COMMIT DROP")
            raw = cursor.cursor
            with raw.copy("COPY research_bars_stage FROM STDIN (FORMAT csv)") as copy:
                for block in canonical_rows(bars):
                    copy.write(block)
            cursor.execute(
                "INSERT INTO research_bars (dataset_id, symbol, ts, open, high, low, close, volume, spread_bps) "
                "SELECT %s, symbol, to_timestamp(ts), open, high, low, close, volume, spread_bps "
                "FROM research_bars_stage", [dataset.id])
            cursor.execute("DROP TABLE research_bars_stage")
    return dataset, True


@dataclass(frozen=True)
class WalkforwardOutcome:
    strategy: str
    result: IngestResult


def walkforward_run(*, dataset: Dataset, strategies: list[str], code_commit: str, fold_spec=None,
                    costs=None, actor: str = "", progress=None) -> list[WalkforwardOutcome]:
    """Run the walk-forward engine on a stored dataset for each strategy and store each run
    through :func:`run_ingest`. Same dataset, parameters and commit give the same run_id and
    artifact_sha256, so re-running is a no-op."""
    from ledger.selectors import dataset_bars
    from ledger.walkforward import run_walkforward
    from ledger.walkforward.strategies import strategy_names

    unknown = sorted(set(strategies) - set(strategy_names()))
    if unknown:
        raise InvalidInput(f"unknown strategy {', '.join(unknown)}; known: {', '.join(strategy_names())}",
                           details={"fields": {"strategy": unknown}})
    if not dataset.bar_count:
        raise InvalidInput(f"dataset {dataset.version} has no stored bars to run on",
                           details={"fields": {"dataset": ["no bars"]}})
    bars = dataset_bars(dataset=dataset)
    outcomes = []
    for name in strategies:
        if progress:
            progress(f"running {name} on {dataset.version} ({dataset.bar_count} bars)…")
        artifact = run_walkforward(bars, strategy_name=name, dataset_version=dataset.version,
                                   snapshot_ref=dataset.snapshot_ref or f"db:research_datasets/{dataset.id}",
                                   code_commit=code_commit, fold_spec=fold_spec, costs=costs)
        outcomes.append(WalkforwardOutcome(strategy=name, result=run_ingest(body=artifact, actor=actor)))
    return outcomes
