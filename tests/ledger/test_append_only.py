"""Stored evidence never changes: PostgreSQL refuses UPDATE and DELETE, whoever asks."""
import pytest
from django.db import DatabaseError, connection, transaction

from ledger.models import FoldMetric, ResearchCandidate, ResearchRun, StressMetric
from tests.ledger.factories import RunFactory

pytestmark = pytest.mark.django_db

STATEMENTS = [
    "UPDATE research_runs SET status = 'failed'",
    "DELETE FROM research_runs",
    "UPDATE research_candidates SET trade_count = 0",
    "DELETE FROM research_candidates",
    "UPDATE research_fold_metrics SET net_pnl = 1000000",
    "DELETE FROM research_fold_metrics",
    "UPDATE research_stress_metrics SET net_pnl = 0",
    "DELETE FROM research_stress_metrics",
    "UPDATE research_datasets SET version = 'x'",
    "DELETE FROM research_feature_snapshots",
    "UPDATE research_candidate_lifecycle SET role = 'champion'",
]


@pytest.mark.parametrize("sql", STATEMENTS)
def test_raw_sql_update_and_delete_are_refused(sql):
    RunFactory()
    with pytest.raises(DatabaseError, match="pgtrigger: Cannot"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert ResearchRun.objects.get().status == "passed"


@pytest.mark.smoke
def test_orm_writes_are_refused_too():
    run = RunFactory()
    fold = FoldMetric.objects.first()
    fold.net_pnl = 1
    with pytest.raises(DatabaseError), transaction.atomic():
        fold.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        StressMetric.objects.all().delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        ResearchCandidate.objects.filter(run=run).update(decision_count=0)
    assert FoldMetric.objects.filter(net_pnl=1).count() == 0


def test_inserts_still_work():
    RunFactory()
    RunFactory()
    assert ResearchRun.objects.count() == 2
