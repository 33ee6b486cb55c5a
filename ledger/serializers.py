"""Output of the research ledger API.

A stored run is returned as the artifact exactly as it was accepted (its canonical JSON still
hashes to ``artifact_sha256``), with each candidate's ``candidate_hash`` and current
``lifecycle_role`` added. The shape is documented by ``ledger.schemas.StoredRunV1``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ledger.models import ResearchRun


def run_representation(run: ResearchRun, facts: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """``facts`` maps candidate_id -> (candidate_hash, lifecycle_role)."""
    data = dict(run.artifact)
    candidates = []
    for cand in data.get("candidates", []):
        candidate_hash, role = facts.get(cand["candidate_id"], ("", "challenger"))
        candidates.append({**cand, "candidate_hash": candidate_hash, "lifecycle_role": role})
    data["candidates"] = candidates
    data["artifact_sha256"] = run.artifact_sha256
    data["created_by"] = run.created_by
    data["created_at"] = run.created_at.isoformat().replace("+00:00", "Z")
    return data


def runs_representation(runs: Iterable[ResearchRun]) -> list[dict[str, Any]]:
    from ledger.selectors import candidate_facts

    runs = list(runs)
    facts = candidate_facts(run_ids=[r.pk for r in runs])
    return [run_representation(r, facts) for r in runs]
