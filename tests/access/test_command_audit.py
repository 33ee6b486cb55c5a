"""Commands and workers that change state leave an audit row, refusals included."""
import io
import json

import pytest
from django.core.management import CommandError, call_command

from access.models import AuditEvent
from tests.ledger.factories import ArtifactFactory

pytestmark = pytest.mark.django_db


def test_a_state_changing_command_is_audited_with_its_arguments(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(ArtifactFactory()))
    call_command("ingest_run", str(path), stdout=io.StringIO())
    event = AuditEvent.objects.get(action="command:ingest_run")
    assert event.via == "command" and event.outcome == "ok" and event.actor.startswith("cli:")
    assert event.details["arguments"]["paths"] == [str(path)]


def test_a_refused_command_is_audited_as_refused():
    with pytest.raises(CommandError):
        call_command("run_walkforward", "--dataset", "does-not-exist", stdout=io.StringIO())
    event = AuditEvent.objects.get(action="command:run_walkforward")
    assert event.outcome == "refused" and "does-not-exist" in event.details["error"]


def test_the_reconciliation_worker_audits_its_run(settings):
    from execution.fake_brokers.server import FakeBrokers
    from execution.tasks import reconcile_executions

    with FakeBrokers(delay_seconds=1) as fakes:
        settings.TRADING_LEAN_RUNNER_URL = fakes.lean.url
        settings.ALPACA_BASE_URL = fakes.alpaca.url
        summary = reconcile_executions()
    event = AuditEvent.objects.get(action="task:reconcile_executions")
    assert event.via == "worker" and event.actor == "system:reconcile"
    assert event.details["run_id"] == summary["run_id"]
