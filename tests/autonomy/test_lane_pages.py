"""The lane's health on the home page, the lane page (cycles with their stages, filtered and paged), a cycle's
page, the resume confirmation, and the API read endpoints."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from access.models import AuditEvent
from access.services import principal_create
from autonomy.models import LaneCycle, LaneCycleStage, LaneState

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)


def cycle(n: int, status: str = "succeeded", signals: int = 390, **extra) -> LaneCycle:
    """A cycle as the lane stores it (the services are tested in test_lane.py; pages read rows)."""
    at = T0 + timedelta(minutes=5 * n)
    row = LaneCycle.objects.create(key=f"period:{n}", trigger="schedule", status="running", started_at=at)
    LaneCycleStage.objects.create(cycle=row, stage="research-intake", position=1, started_at=at, finished_at=at,
                                  status="skipped" if status == "skipped" else "succeeded",
                                  summary="no new bars" if status == "skipped" else f"{signals} new bars",
                                  detail={} if status == "skipped" else {"new_bars": signals})
    if status == "succeeded":
        LaneCycleStage.objects.create(cycle=row, stage="candidate-build", position=2, started_at=at, finished_at=at,
                                      status="succeeded", summary="2 run(s), 8 candidate(s)",
                                      detail={"runs": [{"strategy": "tsmom", "run_id": "wf-tsmom-x",
                                                        "candidate_ids": ["c1", "c2"]}], "halted": []})
    fields = {"status": status, "signals": 0 if status == "skipped" else signals, "finished_at": at,
              "reason": "no new bars: nothing after 14:00" if status == "skipped" else "", **extra}
    LaneCycle.objects.filter(pk=row.pk).update(**fields)
    return LaneCycle.objects.get(pk=row.pk)


def pause(row: LaneCycle, reason="cycle #1 at research-intake: transient failure 5 of 5") -> None:
    LaneCycle.objects.filter(pk=row.pk).update(status="paused", failure_class="transient", reason=reason)
    LaneState.objects.update_or_create(id=1, defaults={"paused": True, "paused_reason": reason, "paused_at": T0,
                                                       "paused_by": "system:lane", "paused_cycle": row})


def test_the_home_page_shows_the_lane_last_cycle_signals_per_cycle_and_no_signal_streak(browser):
    cycle(1, signals=390)
    cycle(2, signals=780)
    last = cycle(3, "skipped")
    page = browser.get("/").content.decode()
    assert 'id="tile-lane"' in page and 'data-figure="lane-state">running' in page
    assert f'href="/autonomy/lane/cycles/{last.pk}/" data-figure="lane-last">#{last.pk}' in page
    assert 'data-figure="lane-last-status">skipped' in page
    assert 'data-figure="lane-signals">390<' in page  # (390 + 780 + 0) / 3
    assert 'data-figure="lane-streak">1<' in page


def test_a_paused_lane_is_on_the_home_page_with_why_and_needs_attention(browser):
    pause(cycle(1, "running"))
    page = browser.get("/").content.decode()
    assert 'data-figure="lane-state">paused' in page
    assert "transient failure 5 of 5" in page and "The autonomous lane is paused" in page  # the verdict lists it


def test_the_lane_page_lists_cycles_with_their_stages_and_filters_by_status(browser):
    ok, skipped = cycle(1), cycle(2, "skipped")
    page = browser.get("/autonomy/lane/").content.decode()
    assert f'data-cycle="{ok.pk}"' in page and f'data-cycle="{skipped.pk}"' in page
    assert 'data-stage="candidate-build"' in page and "2 run(s), 8 candidate(s)" in page
    only = browser.get("/autonomy/lane/?status=skipped").content.decode()
    assert f'data-cycle="{skipped.pk}"' in only and f'data-cycle="{ok.pk}"' not in only
    bad = browser.get("/autonomy/lane/?status=sleeping")
    assert bad.status_code == 400 and "data-cycle=" not in bad.content.decode()


def test_the_lane_page_pages_its_cycles(browser):
    for n in range(30):
        cycle(n)
    first = browser.get("/autonomy/lane/").content.decode()
    assert first.count("data-cycle=") == 25 and "page 1 of 2" in first
    second = browser.get("/autonomy/lane/?page=2").content.decode()
    assert second.count("data-cycle=") == 5


def test_a_cycle_page_links_the_runs_it_made(browser):
    row = cycle(1)
    page = browser.get(f"/autonomy/lane/cycles/{row.pk}/").content.decode()
    assert "Lane cycle #" in page and 'href="/research/runs/wf-tsmom-x/"' in page
    assert browser.get("/autonomy/lane/cycles/999999/").status_code == 404


def test_an_operator_resumes_a_paused_lane_behind_a_confirmation_and_it_is_audited(client):
    from django.contrib.auth import get_user_model

    pause(cycle(1, "running"))
    principal_create(name="ops", roles=["operator"])
    client.force_login(get_user_model().objects.get(username="ops"))
    confirm = client.get("/autonomy/lane/resume/").content.decode()
    assert "transient failure 5 of 5" in confirm and 'name="reason"' in confirm
    assert client.post("/autonomy/lane/resume/", {"confirm": "yes", "reason": ""}).status_code == 400
    done = client.post("/autonomy/lane/resume/", {"confirm": "yes", "reason": "the data API is back"})
    assert done.status_code == 302 and not LaneState.objects.get().paused
    audit = AuditEvent.objects.get(action="lane_resume")
    assert audit.actor == "ops" and audit.via == "page" and audit.details["before"]["paused"] is True


def test_agents_and_viewers_cannot_resume_the_lane(client, browser):
    from django.contrib.auth import get_user_model

    pause(cycle(1, "running"))
    assert browser.post("/autonomy/lane/resume/", {"confirm": "yes", "reason": "x"}).status_code == 403
    principal_create(name="bot", roles=["agent", "operator"])
    client.force_login(get_user_model().objects.get(username="bot"))
    assert client.post("/autonomy/lane/resume/", {"confirm": "yes", "reason": "x"}).status_code == 403
    assert LaneState.objects.get().paused


def test_the_api_lists_cycles_with_stages_filtered_by_status_and_the_health(make_client):
    ok, skipped = cycle(1), cycle(2, "skipped")
    agent = make_client("agent")
    body = agent.get("/api/v1/autonomy/lane/cycles").json()
    assert [c["id"] for c in body["results"]] == [skipped.pk, ok.pk] and body["next"] is None
    assert [s["stage"] for s in body["results"][1]["stages"]] == ["research-intake", "candidate-build"]
    assert body["results"][0]["reason"].startswith("no new bars")
    only = agent.get("/api/v1/autonomy/lane/cycles?status=succeeded&limit=1").json()["results"]
    assert [c["id"] for c in only] == [ok.pk]
    assert agent.get("/api/v1/autonomy/lane/cycles?status=sleeping").status_code == 400
    health = agent.get("/api/v1/autonomy/lane").json()
    assert health["paused"] is False and health["last_cycle"]["id"] == skipped.pk
    assert health["no_signal_streak"] == 1 and health["signals_per_cycle"] == 195.0
    assert agent.post("/api/v1/autonomy/lane/resume", {"reason": "x"}, format="json").status_code == 403
    not_paused = make_client("operator").post("/api/v1/autonomy/lane/resume", {"reason": "x"}, format="json")
    assert not_paused.status_code == 409 and not_paused.json()["error"]["code"] == "lane_not_paused"
