"""The strict writer: validation, idempotency, conflicts, and the one-transaction rule."""
import copy

import pytest

from core.errors import Conflict, InvalidInput
from ledger import services
from ledger.models import FoldMetric, ResearchCandidate, ResearchRun, StressMetric
from tests.ledger.factories import ArtifactFactory, RunFactory, folds

pytestmark = pytest.mark.django_db


def counts():
    return (ResearchRun.objects.count(), ResearchCandidate.objects.count(), FoldMetric.objects.count(),
            StressMetric.objects.count())


def test_ingest_stores_every_row_and_the_canonical_hash():
    body = ArtifactFactory()
    result = services.run_ingest(body=body, actor="alice")
    assert result.created
    assert counts() == (1, 2, 6, 8)
    import hashlib
    import json
    expected = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert result.artifact_sha256 == expected
    assert result.candidate_ids == [c["candidate_id"] for c in body["candidates"]]
    run = ResearchRun.objects.get(run_id=body["run_id"])
    assert run.strategy.name == "macd_rsi" and run.created_by == "alice"
    assert run.dataset.fingerprint == body["dataset"]["fingerprint"]


def test_identical_body_is_idempotent_and_writes_nothing():
    body = ArtifactFactory()
    first = services.run_ingest(body=body)
    before = counts()
    again = services.run_ingest(body=copy.deepcopy(body))
    assert not again.created
    assert again.artifact_sha256 == first.artifact_sha256
    assert counts() == before


def test_key_order_does_not_change_the_hash():
    body = ArtifactFactory()
    reordered = dict(reversed(list(body.items())))
    assert services.run_ingest(body=body).artifact_sha256 == services.run_ingest(body=reordered).artifact_sha256


@pytest.mark.smoke
def test_same_run_id_different_body_conflicts_and_writes_nothing():
    body = ArtifactFactory()
    services.run_ingest(body=body)
    changed = copy.deepcopy(body)
    changed["candidates"][0]["folds"][0]["net_pnl"] = "99.00"
    before = counts()
    with pytest.raises(Conflict) as err:
        services.run_ingest(body=changed)
    assert err.value.code == "run_conflict"
    assert counts() == before


def test_candidate_id_taken_by_another_run_conflicts():
    first = ArtifactFactory()
    services.run_ingest(body=first)
    second = ArtifactFactory()
    second["candidates"][1]["candidate_id"] = first["candidates"][0]["candidate_id"]
    with pytest.raises(Conflict) as err:
        services.run_ingest(body=second)
    assert err.value.code == "candidate_conflict"
    assert not ResearchRun.objects.filter(run_id=second["run_id"]).exists()


def _fields(body):
    before = counts()
    with pytest.raises(InvalidInput) as err:
        services.run_ingest(body=body)
    assert counts() == before, "an invalid artifact must write nothing"
    return err.value.details["fields"]


def test_train_window_must_end_before_test_starts():
    body = ArtifactFactory()
    fold = body["candidates"][0]["folds"][1]
    fold["train_end"] = fold["test_start"]
    fields = _fields(body)
    assert "candidates[0].folds[1]" in fields
    assert "train window must end before the test window" in fields["candidates[0].folds[1]"][0]


def test_overlapping_test_windows_are_refused():
    body = ArtifactFactory()
    cand = body["candidates"][1]
    cand["folds"][1]["test_start"] = cand["folds"][0]["test_end"]
    cand["folds"][1]["train_start"] = cand["folds"][0]["train_start"]
    cand["folds"][1]["train_end"] = cand["folds"][0]["train_end"]
    fields = _fields(body)
    assert any("overlap" in m for m in fields["candidates[1]"])


def test_negative_counts_non_finite_decimals_and_floats_are_refused_with_paths():
    body = ArtifactFactory()
    body["candidates"][0]["decision_count"] = -1
    body["candidates"][0]["folds"][0]["net_pnl"] = "NaN"
    body["candidates"][0]["folds"][0]["gross_pnl"] = 120.5
    body["candidates"][1]["stress"][0]["net_pnl"] = "Infinity"
    fields = _fields(body)
    assert "candidates[0].decision_count" in fields
    assert "candidates[0].folds[0].net_pnl" in fields
    assert "candidates[0].folds[0].gross_pnl" in fields
    assert "candidates[1].stress[0].net_pnl" in fields


def test_fingerprints_must_be_sha256_shaped():
    body = ArtifactFactory()
    body["dataset"]["fingerprint"] = "md5:abc"
    body["features"]["spec_hash"] = "sha256:" + "A" * 64
    fields = _fields(body)
    assert "dataset.fingerprint" in fields and "features.spec_hash" in fields


def test_candidate_ids_unique_within_the_run():
    body = ArtifactFactory()
    body["candidates"][1]["candidate_id"] = body["candidates"][0]["candidate_id"]
    fields = _fields(body)
    assert any("unique within the run" in m for m in fields["(root)"])


def test_unknown_schema_version_and_unknown_fields_are_refused():
    body = ArtifactFactory(schema_version="torghut.research-run/v9")
    assert "schema_version" in _fields(body)
    body = ArtifactFactory()
    body["candidates"][0]["surprise"] = 1
    assert "candidates[0].surprise" in _fields(body)


def test_timestamps_need_an_offset_and_run_id_a_safe_shape():
    body = ArtifactFactory(run_id="bad id!")
    body["dataset"]["from"] = "2026-01-02T14:30:00"
    fields = _fields(body)
    assert "run_id" in fields and "dataset.from" in fields


def test_a_failure_late_in_the_write_rolls_back_everything():
    RunFactory()
    body = ArtifactFactory()
    body["candidates"][0]["folds"] = folds(2)
    # Same feature snapshot fingerprint with a different spec hash is refused mid-write.
    body["features"]["spec_hash"] = "sha256:" + "1" * 64
    before = counts()
    with pytest.raises(Conflict):
        services.run_ingest(body=body)
    assert counts() == before


def test_lifecycle_role_history_and_the_current_role_in_the_api(make_client):
    run = RunFactory()
    candidate = run.candidates.first()
    services.candidate_lifecycle_set(candidate=candidate, role="champion", reason="won paper", actor="alice")
    data = make_client("auditor").get(f"/api/v1/research/runs/{run.run_id}").json()
    roles = {c["candidate_id"]: c["lifecycle_role"] for c in data["candidates"]}
    assert roles[candidate.candidate_id] == "champion"
    assert set(roles.values()) == {"champion", "challenger"}
    assert list(candidate.lifecycle_events.values_list("role", flat=True)) == ["challenger", "champion"]
    with pytest.raises(InvalidInput):
        services.candidate_lifecycle_set(candidate=candidate, role="king", reason="", actor="alice")
