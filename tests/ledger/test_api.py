"""The research-runs API as agents see it."""
import pytest

from ledger.models import ResearchRun
from tests.ledger.factories import ArtifactFactory, RunFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/research/runs"


def test_post_stores_then_replays_idempotently(make_client):
    client = make_client("agent")
    body = ArtifactFactory()
    first = client.post(URL, body, format="json")
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["run_id"] == body["run_id"]
    assert len(data["artifact_sha256"]) == 64
    assert data["candidate_ids"] == [c["candidate_id"] for c in body["candidates"]]
    again = client.post(URL, body, format="json")
    assert again.status_code == 200
    assert again.json()["artifact_sha256"] == data["artifact_sha256"]
    assert ResearchRun.objects.count() == 1


def test_trailing_slash_works_too_without_redirect(make_client):
    client = make_client("researcher")
    response = client.post(URL + "/", ArtifactFactory(), format="json")
    assert response.status_code == 201


def test_conflict_is_409_run_conflict(make_client):
    client = make_client("researcher")
    body = ArtifactFactory()
    client.post(URL, body, format="json")
    body["status"] = "failed"
    response = client.post(URL, body, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "run_conflict"


def test_invalid_artifact_is_400_with_field_paths(make_client):
    client = make_client("agent")
    body = ArtifactFactory()
    body["candidates"][0]["folds"][0]["cost_bps"] = "-1"
    response = client.post(URL, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_artifact"
    assert "candidates[0].folds[0].cost_bps" in error["details"]["fields"]
    assert not ResearchRun.objects.exists()


def test_malformed_json_is_400_in_the_error_envelope(make_client):
    client = make_client("agent")
    response = client.generic("POST", URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_roles_anonymous_and_bad_tokens(make_client, anon_client):
    assert anon_client.get(URL).status_code == 401
    assert anon_client.get(URL).json()["error"]["code"] == "not_authenticated"
    anon_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anon_client.get(URL).status_code == 401
    for role in ["operator", "approver", "auditor"]:
        client = make_client(role)
        assert client.get(URL).status_code == 200
        denied = client.post(URL, ArtifactFactory(), format="json")
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "permission_denied"
    assert not ResearchRun.objects.exists()


def test_detail_returns_what_was_stored(make_client):
    body = ArtifactFactory()
    RunFactory(body=body)
    response = make_client("auditor").get(f"{URL}/{body['run_id']}")
    assert response.status_code == 200
    data = response.json()
    assert data["strategy"] == body["strategy"]
    assert data["dataset"]["fingerprint"] == body["dataset"]["fingerprint"]
    assert data["dataset"]["from"] == "2026-01-02T14:30:00Z"
    assert data["features"]["null_rate"] == body["features"]["null_rate"]
    cand = data["candidates"][0]
    assert cand["candidate_id"] == body["candidates"][0]["candidate_id"]
    assert cand["lifecycle_role"] == "challenger"
    fold = cand["folds"][0]
    assert fold["net_pnl"] == "101.25" and fold["cost_bps"] == "6.5" and fold["name"] == "fold_1"
    assert fold["test_start"] == body["candidates"][0]["folds"][0]["test_start"]
    assert {s["case"] for s in cand["stress"]} == {"spread", "volatility", "liquidity", "halt"}


def test_unknown_run_is_404(make_client):
    response = make_client("auditor").get(f"{URL}/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_list_filters_and_paginates_with_next(make_client):
    for i in range(5):
        RunFactory(body=ArtifactFactory(status="passed" if i % 2 == 0 else "failed"))
    RunFactory(body=ArtifactFactory(strategy={"name": "tsmom", "version": "1.0.0", "type": "plugin_v3"}))
    client = make_client("researcher")
    data = client.get(URL, {"strategy": "macd_rsi", "status": "passed", "limit": 2}).json()
    assert [r["status"] for r in data["results"]] == ["passed", "passed"]
    assert data["next"]
    rest = client.get(data["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    assert {r["strategy"]["name"] for r in client.get(URL, {"strategy": "tsmom"}).json()["results"]} == {"tsmom"}


def test_limit_out_of_range_is_a_clear_400(make_client):
    response = make_client("researcher").get(URL, {"limit": 501})
    assert response.status_code == 400
    assert "limit" in response.json()["error"]["details"]["fields"]


def test_list_query_count_does_not_grow_with_page_size(make_client, django_assert_max_num_queries):
    for _ in range(12):
        RunFactory()
    client = make_client("researcher")
    client.get(URL, {"limit": 1})  # warm the token/user caches
    with django_assert_max_num_queries(12) as small:
        client.get(URL, {"limit": 2})
    with django_assert_max_num_queries(12) as large:
        client.get(URL, {"limit": 12})
    assert len(small.captured_queries) == len(large.captured_queries)


@pytest.mark.smoke
def test_smoke_ingest_and_read_back(make_client):
    client = make_client("agent")
    body = ArtifactFactory()
    assert client.post(URL, body, format="json").status_code == 201
    assert client.get(f"{URL}/{body['run_id']}").json()["artifact_sha256"]
