"""A ledger written by an older version may hold timestamps Python cannot represent (year 10000 in
UTC, or BC); gate evaluations, replays and evidence bundles still read such rows."""
from __future__ import annotations

import pgtrigger
import pytest
from django.db import connection

from promotions.models import Promotion

pytestmark = pytest.mark.django_db


def test_evaluation_replay_and_evidence_read_out_of_range_timestamps(flow):
    first_fold = flow.run.candidates.get(candidate_id=flow.candidate_id).folds.order_by("fold_order").first()
    with pgtrigger.ignore("ledger.ResearchRun:append_only", "ledger.FoldMetric:append_only"), \
            connection.cursor() as cursor:
        cursor.execute("UPDATE research_runs SET dataset_to = '9999-12-31T23:59:59-14:00' WHERE id = %s",
                       [flow.run.pk])
        cursor.execute("UPDATE research_fold_metrics SET train_start = '0001-01-01T00:00:00+14:00' WHERE id = %s",
                       [first_fold.pk])
    flow.promote("paper")
    promotion = Promotion.objects.get()
    replay = flow.agent.get(f"/api/v1/promotions/{promotion.pk}/replay")
    assert replay.status_code == 200 and replay.json()["reproducible"] is True, replay.content
    assert flow.agent.get(f"/api/v1/promotions/{promotion.pk}/evidence").status_code == 200
    assert flow.agent.get(f"/api/v1/promotions/{promotion.pk}").status_code == 200
