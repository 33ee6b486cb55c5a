"""Replay recomputes a decision from stored rows alone; the evidence bundle verifies offline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pgtrigger
import pytest
from django.core.management import call_command
from django.db import connection

from promotions import bundle as bundle_mod
from promotions.models import Promotion

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def applied(flow):
    flow.promote("paper")
    return Promotion.objects.get()


def test_replay_reproduces_the_decision_and_verifies_every_signature(flow, applied):
    body = flow.agent.get(f"/api/v1/promotions/{applied.pk}/replay").json()
    assert body["reproducible"] is True and body["mismatches"] == []
    assert body["original"] == body["replayed"] and body["original"]["allowed"] is True
    assert body["elapsed_ms"] < 1000
    out = StringIO()
    call_command("replay_promotion", str(applied.pk), stdout=out)
    assert "reproducible" in out.getvalue() and "NOT" not in out.getvalue()


def test_replay_names_a_ledger_row_changed_behind_the_triggers_back(flow, applied):
    fold = applied.candidate.folds.order_by("fold_order").first()
    with pgtrigger.ignore("ledger.FoldMetric:append_only"), connection.cursor() as cursor:
        cursor.execute("UPDATE research_fold_metrics SET net_pnl = -999 WHERE id = %s", [fold.pk])
    body = flow.agent.get(f"/api/v1/promotions/{applied.pk}/replay").json()
    assert body["reproducible"] is False
    row = f"research_fold_metrics:{applied.candidate.candidate_id}/{fold.fold_order}"
    assert any(m.startswith(row) and "hash" in m for m in body["mismatches"]), body["mismatches"]
    assert any("gate1_statistical_robustness" in m for m in body["mismatches"])
    with pytest.raises(SystemExit):
        call_command("replay_promotion", "--all", stdout=StringIO())


def test_the_evidence_bundle_verifies_offline_and_one_changed_byte_is_named(flow, applied, tmp_path):
    bundle = flow.agent.get(f"/api/v1/promotions/{applied.pk}/evidence").json()
    assert bundle_mod.verify(bundle) == []
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["TORGHUT_VAR_DIR"] = str(tmp_path / "no-var")  # an embedded server here would have to be created
    ok = subprocess.run([sys.executable, "manage.py", "verify_evidence", str(path)], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK promotion")
    assert not (tmp_path / "no-var" / "pgdata").exists()

    text = path.read_text()
    needle = '"net_pnl": "101.25"'
    assert needle in text
    path.write_text(text.replace(needle, '"net_pnl": "101.26"', 1))
    bad = subprocess.run([sys.executable, "manage.py", "verify_evidence", str(path)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "FAIL research_fold_metrics:" in bad.stdout and "does not hash" in bad.stdout


@pytest.mark.parametrize("edit,expected", [
    (lambda b: b["decisions"][1]["document"].update(comment="edited"), "decision 2 (approve by alice): does not hash"),
    (lambda b: b["evaluation"]["artifact"].update(allowed=False), "evaluation artifact: does not hash"),
    (lambda b: b["policy"]["document"].update(evaluation_max_age_hours=1), "policy v3-gates-1: its document"),
    (lambda b: b["keys"][0].update(status="revoked"), "signed by revoked key"),
    (lambda b: b["decisions"].pop(1), "breaks the chain"),
])
def test_the_verifier_names_what_broke(flow, applied, edit, expected):
    bundle = flow.agent.get(f"/api/v1/promotions/{applied.pk}/evidence").json()
    edit(bundle)
    problems = bundle_mod.verify(bundle)
    assert any(expected in p for p in problems), problems
