"""Reads of the research ledger."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from ledger.models import CandidateLifecycleEvent, FoldMetric, ResearchCandidate, ResearchRun, StressMetric


def run_list() -> QuerySet[ResearchRun]:
    """Runs, newest first (the API renders each from its stored artifact: one query a page)."""
    return ResearchRun.objects.order_by("-id")


def candidate_facts(*, run_ids: list[int]) -> dict[str, tuple[str, str]]:
    """candidate_id -> (candidate_hash, current lifecycle role) for the given runs, in one query."""
    if not run_ids:
        return {}
    latest_role = (CandidateLifecycleEvent.objects.filter(candidate=OuterRef("pk"))
                   .order_by("-id").values("role")[:1])
    rows = (ResearchCandidate.objects.filter(run_id__in=run_ids)
            .annotate(role=Subquery(latest_role)).values_list("candidate_id", "candidate_hash", "role"))
    return {cid: (chash, role or "challenger") for cid, chash, role in rows}


def candidate_queryset() -> QuerySet[ResearchCandidate]:
    latest_role = (CandidateLifecycleEvent.objects.filter(candidate=OuterRef("pk"))
                   .order_by("-id").values("role")[:1])
    return (ResearchCandidate.objects.order_by("position")
            .annotate(lifecycle_role=Subquery(latest_role))
            .prefetch_related(Prefetch("folds", queryset=FoldMetric.objects.order_by("fold_order")),
                              Prefetch("stress", queryset=StressMetric.objects.order_by("stress_case"))))


def run_get(*, run_id: str) -> ResearchRun:
    return ResearchRun.objects.get(run_id=run_id)


def run_get_with_rows(*, run_id: str) -> ResearchRun:
    """A run with its datasets, candidates, folds and stress rows prefetched (for the evidence page)."""
    return (ResearchRun.objects.select_related("dataset", "feature_snapshot")
            .prefetch_related(Prefetch("candidates", queryset=candidate_queryset())).get(run_id=run_id))


def run_page(*, filters, page_number: int, size: int = 50):
    """One page of the runs list: filters (the API's and the best candidate's figures), a sort done in
    SQL, page numbers. A run is listed through its summary (``run_ingest`` writes both; ``manage.py
    summarise_runs --missing`` covers a run inserted around the writer). Three queries (the count,
    the page's ids, their rows), whatever the number of runs and however deep the page.

    Returns ``(filterset, page)``; ``page`` is None when a filter value is invalid (the form says
    which). Raises ``django.core.paginator.InvalidPage`` for a page past the end."""
    from django.core.paginator import Paginator

    from ledger.filters import RunPageFilter
    from ledger.models import RunSummary

    filterset = RunPageFilter(filters, queryset=RunSummary.objects.order_by("-run_id"))
    if not filterset.is_valid():
        return filterset, None
    # The page's ids first (an index walk of the summaries, however deep the page), then those runs
    # with their summaries; the stored artifact is megabytes for a large search: never load it for a list.
    page = Paginator(filterset.qs.values_list("run_id", flat=True), size).page(page_number)
    ids = list(page.object_list)
    rows = {run.id: run for run in ResearchRun.objects.filter(id__in=ids)
            .select_related("summary", "summary__best_candidate").defer("artifact")}
    page.object_list = [rows[i] for i in ids]
    return filterset, page


@dataclass
class CandidateFigures:
    """A candidate with its figures, named and signed as :mod:`ledger.metrics` says."""

    candidate: ResearchCandidate
    label: str
    parameters: list[tuple[str, str]]
    folds: list[FoldMetric]
    stress: list[dict]
    net_pnl: Decimal | None
    sharpe: Decimal | None
    max_drawdown: Decimal | None
    deflated_sharpe: float | None = None
    lifecycle_role: str = ""
    chosen: dict[str, str] | None = None    # walk-forward: fold name -> parameters chosen on its train window

    @property
    def candidate_id(self) -> str:
        return self.candidate.candidate_id


def _figures(cand: ResearchCandidate, label: str) -> CandidateFigures:
    from ledger.choices import StressCase
    from ledger.metrics import chosen_by_fold, parameter_rows, stress_definition, stress_label

    folds = list(cand.folds.all())
    net = sum((f.net_pnl for f in folds), Decimal(0)) if folds else None
    sharpes = [f.sharpe for f in folds if f.sharpe is not None]
    sharpe = (sum(sharpes, Decimal(0)) / len(sharpes)).quantize(Decimal("0.00000001")) if sharpes else None
    stress = [{"case": s.stress_case, "label": stress_label(s.stress_case),
               "definition": stress_definition(s.stress_case), "net_pnl": s.net_pnl, "max_drawdown": s.max_drawdown,
               "delta": s.pessimistic_pnl_delta}
              for s in sorted(cand.stress.all(), key=lambda s: StressCase.values.index(s.stress_case))]
    return CandidateFigures(candidate=cand, label=label, parameters=parameter_rows(cand.parameter_set),
                            folds=folds, stress=stress, net_pnl=net, sharpe=sharpe,
                            max_drawdown=max((f.max_drawdown for f in folds), default=None),
                            lifecycle_role=getattr(cand, "lifecycle_role", None) or "challenger",
                            chosen=chosen_by_fold(cand.parameter_set))


def _best(rows: list[CandidateFigures]) -> CandidateFigures | None:
    """Highest net P&L over the test folds, the earlier candidate on ties (as the run summary)."""
    scored = [r for r in rows if r.net_pnl is not None]
    if not scored:
        return rows[0] if rows else None
    return max(scored, key=lambda r: (r.net_pnl, -r.candidate.position))


def run_overview(*, run_id: str) -> dict:
    """The run page: the run, each candidate with its figures (parameters named, stress cases named
    and defined), the best candidate, the deflated Sharpe ratios and PBO as the active policy computes
    them, and the gates the best candidate would pass now.

    Raises ``ResearchRun.DoesNotExist``."""
    from ledger import scoring
    from ledger.metrics import labels_for

    run = run_get_with_rows(run_id=run_id)
    candidates = list(run.candidates.all())
    labels = labels_for([(c.candidate_id, c.parameter_set) for c in candidates])
    rows = [_figures(c, labels[c.candidate_id]) for c in candidates]
    fold_pnl = {r.candidate_id: {f.fold_order: float(f.net_pnl) for f in r.folds} for r in rows if r.folds}
    selection = (scoring.selection(fold_pnl) if len(fold_pnl) > 1
                 else scoring.Selection(note="fewer than two candidates with folds: selection bias is not judged"))
    for r in rows:
        r.deflated_sharpe = selection.deflated_sharpe.get(r.candidate_id)
    best = _best(rows)
    return {"run": run, "candidates": rows, "best": best, "selection": selection,
            "gates": scoring.gates(best.candidate_id) if best and best.folds else None}


def candidates_compare(*, candidate_ids: list[str]) -> list[dict]:
    """The candidates named (in that order), each with its figures and the gates of the active
    policy; from one run or several. Raises ``ResearchCandidate.DoesNotExist`` naming the unknown."""
    from ledger import scoring
    from ledger.metrics import labels_for

    found = {c.candidate_id: c for c in candidate_queryset().select_related("run").defer("run__artifact")
             .filter(candidate_id__in=candidate_ids)}
    unknown = [cid for cid in candidate_ids if cid not in found]
    if unknown:
        raise ResearchCandidate.DoesNotExist(", ".join(unknown))
    cands = [found[cid] for cid in candidate_ids]
    labels = labels_for([(c.candidate_id, c.parameter_set) for c in cands],
                        qualifiers={c.candidate_id: c.run.run_id for c in cands})
    return [{"figures": _figures(c, labels[c.candidate_id]), "run": c.run,
             "gates": scoring.gates(c.candidate_id) if c.folds.all() else None} for c in cands]


def figure_points(rows: list[CandidateFigures]):
    """Chart points of candidates: fold net P&L and drawdown, stress deltas; series named by parameters."""
    from ledger.figures import FoldPoint, StressPoint

    folds = [FoldPoint(r.label, f.fold_name, f.net_pnl, f.max_drawdown) for r in rows for f in r.folds]
    stress = [StressPoint(r.label, s["case"], s["delta"]) for r in rows for s in r.stress]
    return folds, stress


def dataset_get(*, ref: str):
    """A dataset by fingerprint, or the newest with that version name."""
    from ledger.models import Dataset

    if ref.startswith("sha256:"):
        return Dataset.objects.get(fingerprint=ref)
    found = Dataset.objects.filter(version=ref).order_by("-id").first()
    if found is None:
        raise Dataset.DoesNotExist(ref)
    return found


def dataset_bars(*, dataset):
    """Load a stored dataset's bars as the engine's BarSet (one query; floats cast in SQL)."""
    import numpy as np
    from django.db import connection

    from ledger.walkforward.bars import SymbolBars

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT symbol, extract(epoch FROM ts)::bigint, open::float8, high::float8, low::float8, "
            "close::float8, volume::float8, spread_bps::float8 FROM research_bars "
            "WHERE dataset_id = %s ORDER BY symbol, ts", [dataset.id])
        rows = cursor.fetchall()
    out = {}
    if not rows:
        return out
    symbols = np.array([r[0] for r in rows])
    cols = np.array([r[1:7] for r in rows], dtype=np.float64)
    spreads = [r[7] for r in rows]
    boundaries = np.flatnonzero(symbols[1:] != symbols[:-1]) + 1
    starts = [0, *boundaries.tolist()]
    ends = [*boundaries.tolist(), len(rows)]
    for a, b in zip(starts, ends, strict=True):
        spread = spreads[a:b]
        out[str(symbols[a])] = SymbolBars.from_arrays(
            str(symbols[a]), cols[a:b, 0].astype(np.int64), cols[a:b, 1], cols[a:b, 2], cols[a:b, 3],
            cols[a:b, 4], cols[a:b, 5], None if any(s is None for s in spread) else np.array(spread, dtype=float))
    return out


# --- Rows as evidence: plain, canonical dicts (hashed by gate evaluations and replays) -------------

def _plain(value):
    from core.canonical import decimal_str

    if isinstance(value, Decimal):
        return decimal_str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return value


RUN_FIELDS = ("run_id", "status", "strategy_name", "strategy_type", "strategy_version", "code_commit",
              "runner_version", "dataset_version", "dataset_from", "dataset_to", "feature_schema_version",
              "feature_spec_hash", "artifact_sha256")
SNAPSHOT_FIELDS = ("snapshot_fingerprint", "schema_version", "spec_hash", "null_rate", "staleness_ms_p95")
CANDIDATE_FIELDS = ("candidate_id", "candidate_hash", "position", "parameter_set", "decision_count", "trade_count",
                    "symbols_covered")
FOLD_FIELDS = ("fold_name", "fold_order", "train_start", "train_end", "test_start", "test_end", "decision_count",
               "trade_count", "gross_pnl", "net_pnl", "max_drawdown", "turnover_ratio", "cost_bps", "sharpe",
               "regime_label")
STRESS_FIELDS = ("stress_case", "net_pnl", "max_drawdown", "pessimistic_pnl_delta")


def _utc_text(column: str) -> str:
    """SQL rendering a timestamptz exactly as ``_plain`` renders a datetime (ISO 8601, ``Z``)."""
    return (f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
            f"date_trunc('second', {column}) = {column} THEN '' ELSE to_char({column} AT TIME ZONE 'UTC', '.US') END "
            "|| 'Z'")


_FOLD_JSON = {
    **{name: f"f.{name}" for name in ("fold_name", "fold_order", "decision_count", "trade_count", "regime_label")},
    **{name: _utc_text(f"f.{name}") for name in ("train_start", "train_end", "test_start", "test_end")},
    # trim_scale(numeric)::text is decimal_str(Decimal): "101.25", "100", "0", "-0.5"
    **{name: f"trim_scale(f.{name})::text" for name in ("gross_pnl", "net_pnl", "max_drawdown", "turnover_ratio",
                                                          "cost_bps", "sharpe")},
}


def _fold_rows_of_run(run_pk: int) -> list[dict]:
    """Every fold row of every candidate of a run, as evidence dicts; PostgreSQL renders each value
    as the evidence holds it (text and integers), so no value is converted in Python (10,000 rows
    in ~50 ms; the ORM spent seconds, ``json_agg`` and parsing its text ~150 ms)."""
    from django.db import connection

    names = ("candidate_id", *_FOLD_JSON)
    columns = ", ".join(_FOLD_JSON.values())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.candidate_id, {columns} FROM research_fold_metrics f "
            f"JOIN research_candidates c ON c.id = f.candidate_id WHERE c.run_id = %s "
            f"ORDER BY c.position, f.fold_order", [run_pk])
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def candidate_evidence_rows(*, candidate_id: str) -> dict:
    """Every ledger row a gate evaluation of ``candidate_id`` reads, as plain dicts: its run, the
    run's feature snapshot, every candidate of the run with all their folds (the selection-bias gate
    needs the whole search), and the candidate's stress rows. Five queries, whatever the size.

    Raises ``ResearchCandidate.DoesNotExist``."""
    from ledger.models import FeatureSnapshot

    # the run's stored artifact (megabytes for a large search) is not evidence: never load it here
    cand = (ResearchCandidate.objects.select_related("run").only("pk", *(f"run__{name}" for name in RUN_FIELDS),
                                                                  "run__feature_snapshot_id")
            .get(candidate_id=candidate_id))
    run = cand.run
    snapshot = FeatureSnapshot.objects.values(*SNAPSHOT_FIELDS).get(pk=run.feature_snapshot_id)
    candidates = [{k: _plain(v) for k, v in row.items()} for row in
                  ResearchCandidate.objects.filter(run_id=run.pk).order_by("position").values(*CANDIDATE_FIELDS)]
    folds = _fold_rows_of_run(run.pk)
    stress = [{"candidate_id": candidate_id, **{k: _plain(v) for k, v in row.items()}}
              for row in StressMetric.objects.filter(candidate_id=cand.pk).order_by("stress_case")
              .values(*STRESS_FIELDS)]
    run_row = {name: _plain(getattr(run, name)) for name in RUN_FIELDS}
    candidate_row = next(c for c in candidates if c["candidate_id"] == candidate_id)
    return {"run": run_row, "feature_snapshot": {k: _plain(v) for k, v in snapshot.items()},
            "candidate": candidate_row, "candidates": candidates, "folds": folds, "stress": stress}
