"""Run artifacts arrive as strict JSON: one clear 400 (or 413) for anything else, its audit row,
and nothing else written."""
from __future__ import annotations

import json

import pytest

from access.models import AuditEvent
from ledger.models import ResearchCandidate, ResearchRun
from tests.ledger.factories import ArtifactFactory, CandidateArtifactFactory, folds, stress_rows

pytestmark = pytest.mark.django_db
URL = "/api/v1/research/runs"


def post_text(client, text: str | bytes):
    return client.generic("POST", URL, text, content_type="application/json")


def assert_refused(response, status: int, code: str, path: str | None = None) -> None:
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert error["code"] == code, error
    if path is not None:
        assert path in error["details"]["fields"], error
    assert not ResearchRun.objects.exists()


# --- strict JSON bodies: one clear 400, its audit row, nothing else written -----------------------

def _artifact_text_with(placeholder_value: str, where: str = "parameter_set") -> str:
    body = ArtifactFactory()
    body["candidates"][0][where] = {"x": "PLACEHOLDER"}
    return json.dumps(body).replace('{"x": "PLACEHOLDER"}', placeholder_value)


@pytest.mark.parametrize("name,text,code,path", [
    ("brackets", "[" * 100_000, "invalid_json", None),
    ("deep parameter_set", _artifact_text_with('{"x": ' + "[" * 50_000 + "]" * 50_000 + "}"), "invalid_json", None),
    ("1e400", _artifact_text_with('{"x": 1e400}'), "invalid_json", None),
    ("NaN", _artifact_text_with('{"x": NaN}'), "invalid_json", None),
    ("NUL value", _artifact_text_with('{"x": "a\\u0000"}'), "invalid_json", "candidates[0].parameter_set.x"),
    ("NUL key", _artifact_text_with('{"\\u0000": 1}'), "invalid_json", "candidates[0].parameter_set.\\u0000"),
    ("surrogate key", _artifact_text_with('{"\\ud800": 1}'), "invalid_json", "candidates[0].parameter_set.\\ud800"),
    ("surrogate value", _artifact_text_with('{"x": "\\udfff"}'), "invalid_json", "candidates[0].parameter_set.x"),
    ("duplicate key", _artifact_text_with('{"x": 1, "x": 2}'), "duplicate_key", "candidates[0].parameter_set.x"),
    ("duplicate top-level key", json.dumps(ArtifactFactory())[:-1] + ', "status": "failed"}', "duplicate_key",
     "status"),
])
def test_bodies_that_are_not_strict_json_are_400_with_an_audit_row(make_client, name, text, code, path):
    response = post_text(make_client("agent"), text)
    assert_refused(response, 400, code, path)
    event = AuditEvent.objects.get(path=URL)
    assert (event.outcome, event.status_code, event.details["error_code"]) == ("invalid", 400, code)
    assert not ResearchCandidate.objects.exists()


def test_nul_in_a_named_field_is_refused(make_client):
    body = ArtifactFactory()
    body["strategy"]["version"] = "3.0.1\u0000"
    response = make_client("agent").post(URL, body, format="json")
    assert_refused(response, 400, "invalid_json", "strategy.version")


def test_invalid_utf8_and_bare_constants_say_what_and_where(make_client):
    client = make_client("agent")
    bad = post_text(client, b'{"schema_version": "torghut.research-run/v1", "run_id": "\xc3\x28"}')
    assert bad.status_code == 400 and bad.json()["error"]["details"]["byte_offset"] == 57
    nan = post_text(client, '{"schema_version": "torghut.research-run/v1",\n"x": Infinity}')
    details = nan.json()["error"]["details"]
    assert nan.status_code == 400 and (details["token"], details["line"], details["column"]) == ("Infinity", 2, 6)


def test_bodies_over_the_limit_are_413_in_the_envelope(make_client, settings):
    settings.API_MAX_BODY_BYTES = 2_000
    client = make_client("agent")
    body = ArtifactFactory()
    assert len(json.dumps(body)) > 2_000
    response = client.post(URL, body, format="json")
    assert response.status_code == 413 and response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.json()["error"]["details"]["limit_bytes"] == 2_000
    assert AuditEvent.objects.get(path=URL).details["error_code"] == "payload_too_large"
    assert not ResearchRun.objects.exists()


def test_the_api_limit_is_its_own_not_djangos_form_limit(make_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000  # forms; the API reads bodies up to API_MAX_BODY_BYTES
    assert make_client("agent").post(URL, ArtifactFactory(), format="json").status_code == 201


def test_the_limit_holds_a_10000_candidate_artifact_with_headroom(settings):
    """10,000 candidates shaped like the walk-forward runner's (its parameter_set, 4 folds, 4 stress
    cases), measured in compact JSON."""
    chosen = {f"fold_{i}": {"rsi_buy": 30, "rsi_sell": 60} for i in range(1, 5)}
    parameter_set = {"selection": "walk_forward", "objective": "max_train_net_pnl", "tie_break": "grid_order",
                     "grid": [{"rsi_buy": b, "rsi_sell": s} for b in (30, 35, 40) for s in (60, 70)],
                     "chosen": chosen}
    candidate = CandidateArtifactFactory(candidate_id="cand-wf-macd_rsi-0123456789ab-aaa",
                                         parameter_set=parameter_set, folds=folds(4), stress=stress_rows())
    one = len(json.dumps(candidate, separators=(",", ":")))
    assert 10_000 * one * 2 < settings.API_MAX_BODY_BYTES
