"""The README's failed-promotion-replay runbook and its key rotation, step by step, with the calls they name."""
from __future__ import annotations

import json
from io import StringIO

import pgtrigger
import pytest
from django.core.management import call_command
from django.db import connection

from autonomy.selectors import readiness_get
from promotions import services
from promotions.models import Evaluation, Promotion, ReplayRecord, SigningKey
from promotions.services import replay_sweep
from strategies.models import Strategy
from tests.promotions.conftest import STRATEGY

pytestmark = pytest.mark.django_db


def criterion(cid: str) -> dict:
    return next(c for c in readiness_get()["criteria"] if c["id"] == cid)


def run_command(*args) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command(*args, stdout=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


def test_a_failed_promotion_replay_runbook(flow, tmp_path):
    flow.promote("paper")
    promotion = Promotion.objects.get()
    replay_sweep()
    assert criterion("activations_signed_chain")["status"] == "pass"

    # A ledger row changed behind the plane's back (as the owner, the triggers bypassed); the sweep records it.
    fold = promotion.candidate.folds.order_by("fold_order").first()
    with pgtrigger.ignore("ledger.FoldMetric:append_only"), connection.cursor() as cursor:
        cursor.execute("UPDATE research_fold_metrics SET net_pnl = -999 WHERE id = %s", [fold.pk])
    replay_sweep()
    signs = criterion("activations_signed_chain")
    assert signs["status"] == "fail" and f"promotion #{promotion.pk} does not replay" in signs["detail"]
    recorded = ReplayRecord.objects.count()

    # 1. name what broke, without recording another replay
    code, out = run_command("replay_promotion", str(promotion.pk), "--no-record")
    assert code == 1 and "NOT reproducible" in out
    assert "research_fold_metrics:" in out and "does not hash to what the evaluation recorded (the row changed)" in out
    replay = flow.operator.get(f"/api/v1/promotions/{promotion.pk}/replay").json()
    assert replay["reproducible"] is False and any("research_fold_metrics:" in m for m in replay["mismatches"])
    assert ReplayRecord.objects.count() == recorded

    # 2. keep the evidence, and check it offline
    bundle = tmp_path / f"promotion-{promotion.pk}.json"
    bundle.write_text(json.dumps(flow.operator.get(f"/api/v1/promotions/{promotion.pk}/evidence").json()))
    code, out = run_command("verify_evidence", str(bundle))
    assert code == 1 and "FAIL research_fold_metrics:" in out

    # 3. contain: roll the strategy back (operators of the strategy)
    rolled = flow.operator.post(f"/api/v1/promotions/{promotion.pk}/rollback",
                                {"reason": "promotion does not replay", "to_stage": "shadow"}, format="json")
    assert rolled.status_code == 201 and rolled.json()["status"] == "rolled_back"
    assert Strategy.objects.get(name=STRATEGY).stage == "shadow"

    # Done when: no activation rests on it any more; the failed replay recorded in the window still counts
    replay_sweep()
    assert criterion("activations_signed_chain")["status"] == "pass"
    late = criterion("promotion_replay_time")
    assert late["status"] == "fail" and "not reproducible" in late["detail"]


def test_key_rotation_keeps_old_signatures_verifying_and_a_machine_without_the_key_file_signs_nothing(
        flow, settings, tmp_path):
    flow.promote("paper")
    promotion = Promotion.objects.get()
    old = SigningKey.objects.get(status="active")

    code, out = run_command("signing_keys", "rotate")
    assert code == 0 and out.startswith("active signing key: ed25519:")
    new = SigningKey.objects.get(status="active")
    assert SigningKey.objects.get(pk=old.pk).status == "retired"
    keys = {k["key_id"]: k["status"] for k in flow.agent.get("/api/v1/promotions/keys").json()["results"]}
    assert keys[new.key_id] == "active" and keys[old.key_id] == "retired"
    assert (settings.SIGNING_KEY_DIR / (new.key_id.replace(":", "-") + ".key")).stat().st_mode & 0o777 == 0o600
    code, _ = run_command("replay_promotion", "--all", "--no-record")
    assert code == 0  # the retired key's signatures still verify
    assert flow.evaluate("canary")["key_id"] == new.key_id

    # another machine, without the new key file: signing answers 503 and writes nothing
    settings.SIGNING_KEY_DIR = tmp_path / "elsewhere"
    evaluations = Evaluation.objects.count()
    answer = flow.agent.post("/api/v1/promotions/evaluations", {"candidate_id": flow.candidate_id, "target": "canary"},
                             format="json")
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "no_signing_key"
    assert "has no key file" in answer.json()["error"]["message"]
    assert Evaluation.objects.count() == evaluations

    # a leaked key: revoked, every promotion it signed stops replaying
    services.signing_key_revoke(key_id=old.key_id, reason="key file leaked", actor="ops")
    code, out = run_command("replay_promotion", str(promotion.pk), "--no-record")
    assert code == 1 and f"signed by revoked key {old.key_id}" in out
