"""The demo's autonomous lane (``demo.services.demo_lane``): its first cycles run in the periods just before
now, so the lane page has a history and ``serve_demo``'s worker goes on from them. The full demo's lane (what
it does to the promoted strategies) is asserted in tests/demo/test_demo.py."""
import datetime as dt

import pytest

pytestmark = pytest.mark.django_db


def test_the_demo_lane_runs_before_now_and_the_workers_next_cycle_goes_on_from_it(settings, tmp_path):
    from autonomy.lane_services import lane_cycle_run
    from autonomy.models import LaneCycle
    from demo.promotions import promotions_ready
    from demo.services import demo_lane
    from promotions.models import Drill

    settings.SIGNING_KEY_DIR = tmp_path / "keys"
    promotions_ready()
    said: list[str] = []
    ran = demo_lane(progress=said.append)
    now = dt.datetime.now(dt.UTC)
    assert [status for _, status in ran] == ["succeeded", "succeeded", "skipped", "succeeded"]
    cycles = list(LaneCycle.objects.order_by("id"))
    assert [c.trigger for c in cycles] == ["schedule", "schedule", "command", "schedule"]
    assert [c.signals for c in cycles] == [9360, 780, 0, 780]  # a window of 12 sessions, then one a period
    assert cycles[2].reason.startswith("no new bars") and "session 13" in cycles[2].reason
    assert all(c.started_at < now and now - c.started_at < dt.timedelta(minutes=4 * settings.LANE_CYCLE_MINUTES)
               for c in cycles)
    assert all(c.source == "synthetic" for c in cycles if c.status == "succeeded")
    # the operator rehearsed the drills first: gate 4 holds, the candidates fail on their research alone
    assert Drill.objects.filter(passed=True).count() == 2
    evaluations = cycles[-1].stages.get(stage="gate-evaluation").detail["evaluations"]
    assert evaluations and not any("gate4_operational_readiness" in e["failing"] for e in evaluations)
    assert said[-1].startswith(f"lane: cycle #{cycles[-1].pk} succeeded")

    # serve_demo's worker, in the current period: a new period's cycle, the sessions since
    outcome = lane_cycle_run()
    assert outcome.cycle.status == "succeeded" and outcome.cycle.signals >= 780

    # idempotent: a second load runs no cycle
    count = LaneCycle.objects.count()
    assert demo_lane(progress=said.append) == [] and said[-1] == "lane: cycles already ran"
    assert LaneCycle.objects.count() == count
