import io
import json

import pytest
from django.core.management import CommandError, call_command

from ledger.models import ResearchRun
from tests.ledger.factories import ArtifactFactory

pytestmark = pytest.mark.django_db


def test_ingest_run_folder_with_progress_and_summary(tmp_path):
    good = [ArtifactFactory() for _ in range(3)]
    for i, body in enumerate(good):
        (tmp_path / f"{i}.json").write_text(json.dumps(body))
    bad = ArtifactFactory()
    bad["dataset"]["fingerprint"] = "nope"
    (tmp_path / "9-bad.json").write_text(json.dumps(bad))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 of 4"):
        call_command("ingest_run", str(tmp_path), stdout=out, stderr=err)
    assert "[1/4]" in out.getvalue() and "stored" in out.getvalue()
    assert "dataset.fingerprint" in err.getvalue()
    assert json.loads(out.getvalue().strip().splitlines()[-1]) == {
        "files": 4, "stored": 3, "unchanged": 0, "refused": 1}
    assert ResearchRun.objects.count() == 3
    out = io.StringIO()
    call_command("ingest_run", str(tmp_path / "0.json"), stdout=out)
    assert "already stored" in out.getvalue()


def test_ingest_run_from_stdin(monkeypatch):
    body = ArtifactFactory()
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(body)))
    call_command("ingest_run", "-", stdout=io.StringIO())
    assert ResearchRun.objects.filter(run_id=body["run_id"]).exists()


def test_ingest_run_missing_path():
    with pytest.raises(CommandError, match="no such file"):
        call_command("ingest_run", "/nonexistent/x.json")
