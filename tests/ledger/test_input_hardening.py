"""Input hardening of the run ingest: every stored value is checked against its column and a sane
timestamp range before the write (a 400 naming the field, never a 500), and a database holding
values an older version accepted still renders on every read path."""
from __future__ import annotations

import pytest

from ledger.models import Dataset, FeatureSnapshot, ResearchCandidate, ResearchRun
from tests.ledger.factories import ArtifactFactory, set_path

pytestmark = pytest.mark.django_db
URL = "/api/v1/research/runs"


def fields_of(response) -> dict:
    return response.json()["error"]["details"]["fields"]


def assert_refused(response, status: int, code: str, path: str | None = None) -> None:
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert error["code"] == code, error
    if path is not None:
        assert path in error["details"]["fields"], error
    assert not ResearchRun.objects.exists()


# --- timestamps ------------------------------------------------------------------------------

@pytest.mark.parametrize("path,value", [
    ("dataset.to", "9999-12-31T23:59:59-14:00"),
    ("dataset.to", "2200-01-01T00:00:00Z"),
    ("dataset.to", "2199-12-31T23:00:00-14:00"),  # 2200-01-01T13:00:00Z
    ("dataset.from", "1969-12-31T23:59:59Z"),
    ("dataset.from", "1970-01-01T01:00:00+02:00"),  # 1969-12-31T23:00:00Z
    ("candidates[0].folds[0].train_start", "0001-01-01T00:00:00+14:00"),
    ("candidates[1].folds[2].test_end", "9999-12-31T23:59:59-14:00"),
])
def test_timestamps_outside_1970_to_2200_are_400_naming_the_field(make_client, path, value):
    client = make_client("agent")
    response = client.post(URL, set_path(ArtifactFactory(), path, value), format="json")
    assert_refused(response, 400, "invalid_artifact", path)
    message = fields_of(response)[path][0]
    assert "1970-01-01T00:00:00Z" in message or "2200-01-01T00:00:00Z" in message
    assert client.get(URL).status_code == 200


@pytest.mark.parametrize("start,end", [("1970-01-01T00:00:00Z", "2199-12-31T23:59:59.999999Z"),
                                       ("1970-01-01T00:00:00-05:00", "2200-01-01T10:00:00+14:00")])
def test_timestamps_at_the_edges_of_the_range_are_accepted(make_client, start, end):
    body = ArtifactFactory()
    body["dataset"]["from"], body["dataset"]["to"] = start, end
    assert make_client("agent").post(URL, body, format="json").status_code == 201


def test_every_read_path_renders_a_stored_row_with_out_of_range_timestamps(legacy_run, make_client, browser,
                                                                           admin_client):
    api = make_client("auditor")
    listed = api.get(URL)
    assert listed.status_code == 200
    assert [r["run_id"] for r in listed.json()["results"]] == ["legacy-y10k", "template-run"]
    detail = api.get(f"{URL}/legacy-y10k")
    assert detail.status_code == 200 and detail.json()["dataset"]["to"] == legacy_run["y10k"]  # as stored
    assert api.get(URL, {"strategy": "macd_rsi", "status": "passed"}).status_code == 200

    assert browser.get("/research/").status_code == 200
    page = browser.get("/research/runs/legacy-y10k/")
    assert page.status_code == 200 and "9999-12-31" in page.content.decode()

    for url in ["/admin/ledger/researchrun/", f"/admin/ledger/researchrun/{legacy_run['run_pk']}/change/",
                "/admin/ledger/researchcandidate/",
                f"/admin/ledger/researchcandidate/{legacy_run['candidate_pk']}/change/",
                "/admin/ledger/dataset/", f"/admin/ledger/dataset/{legacy_run['dataset_pk']}/change/"]:
        assert admin_client.get(url).status_code == 200, url

    # The ORM reads the values as stand-ins at the edge of what Python can hold.
    run = ResearchRun.objects.get(run_id="legacy-y10k")
    fold = ResearchCandidate.objects.get(candidate_id="legacy-cand").folds.order_by("fold_order").first()
    assert run.dataset_to.year == 9999 and fold.train_start.year == 1
    assert Dataset.objects.get(pk=legacy_run["dataset_pk"]).first_ts.year == 1


# --- numbers and texts checked against their columns -------------------------------------------

@pytest.mark.parametrize("path,value", [
    ("candidates[0].decision_count", 1e20),
    ("candidates[0].decision_count", 2**31),
    ("candidates[0].trade_count", 10**20),
    ("candidates[0].folds[0].order", 1e20),
    ("candidates[0].folds[0].order", 2**31),
    ("candidates[0].folds[1].decision_count", 2**31),
    ("candidates[0].folds[1].trade_count", -1),
    ("features.staleness_ms_p95", 1e20),
    ("features.staleness_ms_p95", 2**63),
    ("features.staleness_ms_p95", -1),
])
def test_numbers_that_do_not_fit_their_column_are_400_naming_the_field(make_client, path, value):
    response = make_client("agent").post(URL, set_path(ArtifactFactory(), path, value), format="json")
    assert_refused(response, 400, "invalid_artifact", path)


def test_the_largest_values_the_columns_hold_are_accepted_and_read_back(make_client):
    body = ArtifactFactory()
    set_path(body, "candidates[0].decision_count", 2**31 - 1)
    set_path(body, "candidates[0].folds[0].order", 2**31 - 1)
    set_path(body, "features.staleness_ms_p95", 2**63 - 1)
    client = make_client("agent")
    assert client.post(URL, body, format="json").status_code == 201
    stored = client.get(f"{URL}/{body['run_id']}").json()
    assert stored["candidates"][0]["decision_count"] == 2**31 - 1
    assert FeatureSnapshot.objects.get().staleness_ms_p95 == 2**63 - 1


@pytest.mark.parametrize("path", ["candidates[0].trade_count", "candidates[0].folds[0].trade_count",
                                  "candidates[0].folds[0].order", "features.staleness_ms_p95"])
@pytest.mark.parametrize("value", [True, "118", 118.0])
def test_counts_are_json_integers_only(make_client, path, value):
    response = make_client("agent").post(URL, set_path(ArtifactFactory(), path, value), format="json")
    assert_refused(response, 400, "invalid_artifact", path)


@pytest.mark.parametrize("value", [" 10", "10 ", "10\n", "\t10", "1e3", "+1", "10.", ".5", "1_000",
                                   "١٠", "12345678901234567", "1.123456789", 10, 10.5, None])
def test_decimals_are_strings_of_one_shape(make_client, value):
    path = "candidates[0].folds[0].net_pnl"
    response = make_client("agent").post(URL, set_path(ArtifactFactory(), path, value), format="json")
    assert_refused(response, 400, "invalid_artifact", path)


def test_texts_longer_than_their_column_are_400(make_client):
    body = set_path(ArtifactFactory(), "features.schema_version", "3." + "0" * 31)  # the column holds 32
    assert_refused(make_client("agent").post(URL, body, format="json"), 400, "invalid_artifact",
                   "features.schema_version")
