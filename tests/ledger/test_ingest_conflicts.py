"""A fingerprint names one content, and a candidate id belongs to one run, even when runs race."""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from ledger.models import Dataset, FeatureSnapshot, ResearchCandidate, ResearchRun
from tests.ledger.factories import ArtifactFactory, sha

pytestmark = pytest.mark.django_db
URL = "/api/v1/research/runs"


# --- fingerprints name one content ---------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("null_rate", {"macd": "0.000", "rsi": "0.500"}),
    ("staleness_ms_p95", 4201),
    ("spec_hash", sha("other-spec")),
    ("schema_version", "3.0.1"),
])
def test_a_stored_feature_fingerprint_with_other_content_is_409(make_client, field, value):
    client = make_client("agent")
    assert client.post(URL, ArtifactFactory(), format="json").status_code == 201
    body = ArtifactFactory()
    body["features"][field] = value
    response = client.post(URL, body, format="json")
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "feature_snapshot_conflict" and error["details"]["differs"] == [f"features.{field}"]
    assert ResearchRun.objects.count() == 1 and FeatureSnapshot.objects.count() == 1


def test_the_same_feature_fingerprint_with_the_same_content_is_shared(make_client):
    client = make_client("agent")
    assert client.post(URL, ArtifactFactory(), format="json").status_code == 201
    assert client.post(URL, ArtifactFactory(), format="json").status_code == 201
    assert ResearchRun.objects.count() == 2 and FeatureSnapshot.objects.count() == 1


@pytest.mark.parametrize("field,value,status", [
    ("symbols", ["AAPL"], 409),
    ("symbols", ["MSFT", "AAPL"], 201),  # the same set of symbols
    ("from", "2026-01-01T14:30:00Z", 409),
    ("to", "2026-02-11T21:00:00Z", 409),
    ("to", "2026-02-10T16:00:00-05:00", 201),  # the same instant
    ("version", "bars-2026-02-renamed", 201),  # a label: each run keeps its own
    ("snapshot_ref", "elsewhere/bars.parquet", 201),
])
def test_a_stored_dataset_fingerprint_must_name_the_same_symbols_and_window(make_client, field, value, status):
    client = make_client("agent")
    assert client.post(URL, ArtifactFactory(), format="json").status_code == 201
    body = ArtifactFactory()
    body["dataset"][field] = value
    response = client.post(URL, body, format="json")
    assert response.status_code == status, response.content
    if status == 409:
        assert response.json()["error"]["code"] == "dataset_conflict"
        assert response.json()["error"]["details"]["differs"] == [f"dataset.{field}"]
        assert ResearchRun.objects.count() == 1
    assert Dataset.objects.count() == 1


def test_a_new_run_naming_a_legacy_dataset_is_a_conflict_not_a_crash(legacy_run, make_client):
    body = ArtifactFactory()
    body["dataset"] = {**body["dataset"], "fingerprint": sha("legacy-dataset"), "symbols": ["AAPL"]}
    response = make_client("agent").post(URL, body, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "dataset_conflict"


# --- concurrent runs sharing a candidate id ------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_sharing_a_candidate_id_one_wins_the_rest_are_409(make_client):
    clients = [make_client("agent") for _ in range(10)]
    bodies = []
    for i in range(10):
        body = ArtifactFactory(run_id=f"race-{i}")
        body["candidates"][0]["candidate_id"] = "shared-candidate"
        bodies.append(body)
    barrier = threading.Barrier(10)
    statuses, errors = [], []

    def worker(client, body):
        try:
            barrier.wait()
            response = client.post(URL, body, format="json")
            statuses.append((response.status_code, response.json().get("error", {}).get("code")))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=pair) for pair in zip(clients, bodies, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(statuses) == [(201, None)] + [(409, "candidate_conflict")] * 9
    assert ResearchRun.objects.count() == 1
    assert ResearchCandidate.objects.filter(candidate_id="shared-candidate").count() == 1
