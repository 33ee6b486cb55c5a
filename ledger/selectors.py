"""Reads of the research ledger."""
from __future__ import annotations

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from ledger.models import CandidateLifecycleEvent, FoldMetric, ResearchCandidate, ResearchRun, StressMetric


def run_list(*, with_candidates: bool = True) -> QuerySet[ResearchRun]:
    """Runs, newest first, with everything the API/page renders fetched in constant queries."""
    qs = ResearchRun.objects.select_related("dataset", "feature_snapshot").order_by("-id")
    if with_candidates:
        qs = qs.prefetch_related(Prefetch("candidates", queryset=candidate_queryset()))
    return qs


def candidate_queryset() -> QuerySet[ResearchCandidate]:
    latest_role = (CandidateLifecycleEvent.objects.filter(candidate=OuterRef("pk"))
                   .order_by("-id").values("role")[:1])
    return (ResearchCandidate.objects.order_by("position")
            .annotate(lifecycle_role=Subquery(latest_role))
            .prefetch_related(Prefetch("folds", queryset=FoldMetric.objects.order_by("fold_order")),
                              Prefetch("stress", queryset=StressMetric.objects.order_by("stress_case"))))


def run_get(*, run_id: str) -> ResearchRun:
    return run_list().get(run_id=run_id)
