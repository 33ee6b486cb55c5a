"""Gate policies (versioned, immutable, activated by an audited decision) and signing keys."""
from __future__ import annotations

import json
import stat
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from access.models import AuditEvent
from core.canonical import content_sha256
from promotions import selectors, services, signing
from promotions.management.commands.gate_policy import SHIPPED
from promotions.models import GatePolicy, PolicyActivation, SigningKey

pytestmark = pytest.mark.django_db


def run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture
def key_dir(settings, tmp_path):
    settings.SIGNING_KEY_DIR = tmp_path / "keys"
    return settings.SIGNING_KEY_DIR


def test_shipped_policies_load_once_with_their_sha256_and_never_change():
    lines = run("gate_policy", "load", "--shipped")
    assert [line.split()[:2] for line in lines] == [["loaded", "v3-gates-1"], ["loaded", "v4-gates-1"]]
    v4 = GatePolicy.objects.get(version="v4-gates-1")
    assert v4.sha256 == content_sha256(json.loads((SHIPPED / "v4-gates-1.json").read_text()))
    assert run("gate_policy", "load", "--shipped")[0].startswith("unchanged v3-gates-1")
    changed = {**v4.document, "evaluation_max_age_hours": 1}
    with pytest.raises(Exception) as err:
        services.policy_load(document=changed, actor="alice")
    assert err.value.code == "policy_version_conflict"
    assert GatePolicy.objects.get(version="v4-gates-1").document == v4.document
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE promotion_gate_policies SET document = '{}' WHERE version = 'v4-gates-1'")


def test_an_invalid_policy_is_refused_naming_the_field_and_nothing_is_stored(tmp_path):
    doc = json.loads((SHIPPED / "v3-gates-1.json").read_text())
    doc["version"] = "v9"
    doc["stage_requirements"]["canary"] = ["gate0_data_integrity", "gate9_magic"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(CommandError, match="stage_requirements.canary: unknown gate 'gate9_magic'"):
        run("gate_policy", "load", str(path))
    assert not GatePolicy.objects.filter(version="v9").exists()


def test_activation_is_an_audited_decision_and_the_api_marks_the_active_version(make_client):
    run("gate_policy", "load", "--shipped")
    run("gate_policy", "activate", "v3-gates-1", "--reason", "first policy")
    assert run("gate_policy", "activate", "v4-gates-1", "--reason", "selection-bias gate") == [
        "active policy: v4-gates-1 (was v3-gates-1)"]
    assert selectors.policy_active().version == "v4-gates-1"
    event = AuditEvent.objects.filter(action="gate_policy_activate").order_by("-id").first()
    assert event.details == {"before": "v3-gates-1", "after": "v4-gates-1", "reason": "selection-bias gate"}
    with pytest.raises(CommandError, match="Unknown policy version 'v5'"):
        run("gate_policy", "activate", "v5", "--reason", "x")
    assert PolicyActivation.objects.count() == 2
    body = make_client("auditor").get("/api/v1/promotions/policies").json()
    assert [(p["version"], p["active"]) for p in body["results"]] == [("v4-gates-1", True), ("v3-gates-1", False)]
    assert body["results"][0]["sha256"] == content_sha256(body["results"][0]["document"])


def test_diff_names_what_v4_adds():
    run("gate_policy", "load", "--shipped")
    lines = run("gate_policy", "diff", "v3-gates-1", "v4-gates-1")
    assert any(line.startswith("gates.gate6_selection_bias: null -> {") for line in lines)
    assert lines[-1].endswith("between v3-gates-1 and v4-gates-1")


def test_rotation_keeps_old_signatures_verifying_and_revocation_stops_them(key_dir, make_client):
    first = run("signing_keys", "generate")[0].split()[-1]
    with pytest.raises(CommandError, match="already active"):
        run("signing_keys", "generate")
    path = next(key_dir.iterdir())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = {"decision": "approve", "promotion": 1}
    old_signature = signing.sign(services.active_signer(), document)
    second = run("signing_keys", "rotate")[0].split()[-1]
    assert second != first and services.active_signer().key_id == second
    keys = {k["key_id"]: k for k in make_client("agent").get("/api/v1/promotions/keys").json()["results"]}
    assert keys[first]["status"] == "retired" and keys[second]["status"] == "active"
    assert signing.verify(selectors.verifying_keys()[first], document, old_signature)
    assert not signing.verify(keys[first]["public_key"], {**document, "promotion": 2}, old_signature)
    run("signing_keys", "revoke", first, "--reason", "key file copied to a laptop")
    assert first not in selectors.verifying_keys()
    assert AuditEvent.objects.filter(action="signing_key_revoke", object_ref=f"signing_key:{first}").exists()


def test_postgres_keeps_keys_honest(key_dir):
    key = services.signing_key_rotate(actor="ops")
    services.signing_key_revoke(key_id=key.key_id, reason="test", actor="ops")
    for sql in ("UPDATE promotion_signing_keys SET status = 'active'",
                "UPDATE promotion_signing_keys SET public_key = 'AAAA'",
                "DELETE FROM promotion_signing_keys"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert SigningKey.objects.get().status == "revoked"
