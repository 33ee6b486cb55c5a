"""LLM governance in the admin: evidence read-only; the stage and the allowlists change only through the
services, behind a confirmation page asking for a reason."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from access.roles import Role
from autonomy.models import ControlEvent, LlmAllowlistEntry, LlmGovernance, LlmStageDecision

pytestmark = pytest.mark.django_db
GOVERNANCE = "/admin/autonomy/llmgovernance/"
ALLOWLIST = "/admin/autonomy/llmallowlistentry/"


@pytest.fixture
def root(client, db):
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_superuser("root", password="a-long-password-1")
    user.groups.add(Group.objects.get_or_create(name=Role.OPERATOR)[0])
    client.force_login(user)
    return client


def test_stage_changes_behind_a_confirmation_then_through_the_service(root, signing_key):
    row = LlmGovernance.objects.get(id=1)  # the migration creates the singleton
    page = root.post(GOVERNANCE, {"action": "change_stage", "_selected_action": [row.pk]})
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    assert not LlmStageDecision.objects.exists()
    no_reason = root.post(GOVERNANCE, {"action": "change_stage", "_selected_action": [row.pk], "confirm": "yes",
                                       "stage": "stage1"})
    assert no_reason.status_code == 200 and "This field is required" in no_reason.content.decode()
    refused = root.post(GOVERNANCE, {"action": "change_stage", "_selected_action": [row.pk], "confirm": "yes",
                                     "stage": "stage2", "reason": "jump"}, follow=True)
    assert "stages advance one at a time" in refused.content.decode()
    assert not LlmStageDecision.objects.exists()
    done = root.post(GOVERNANCE, {"action": "change_stage", "_selected_action": [row.pk], "confirm": "yes",
                                  "stage": "stage1", "reason": "start shadow"})
    assert done.status_code == 302
    decision = LlmStageDecision.objects.get()
    assert (decision.stage_after, decision.via, decision.actor) == ("stage1", "admin", "root")
    assert ControlEvent.objects.filter(kind="llm_stage", via="admin").exists()


def test_a_superuser_without_the_operator_role_cannot_change_the_stage(client, signing_key):
    client.force_login(get_user_model().objects.create_superuser("root2", password="a-long-password-1"))
    resp = client.post(GOVERNANCE, {"action": "change_stage", "_selected_action": [1], "confirm": "yes",
                                    "stage": "stage1", "reason": "x"}, follow=True)
    assert "Only operators" in resp.content.decode()
    assert not LlmStageDecision.objects.exists()


def test_allowlist_entries_are_added_and_removed_through_the_service(root):
    added = root.post(f"{ALLOWLIST}add/", {"kind": "model", "value": "claude-admin", "reason": "evaluated"})
    assert added.status_code == 302
    entry = LlmAllowlistEntry.objects.get()
    assert (entry.value, entry.added_by) == ("claude-admin", "root")
    confirm = root.post(ALLOWLIST, {"action": "remove_selected", "_selected_action": [entry.pk]})
    assert confirm.status_code == 200 and LlmAllowlistEntry.objects.exists()
    no_reason = root.post(ALLOWLIST, {"action": "remove_selected", "_selected_action": [entry.pk], "confirm": "yes"})
    assert "This field is required" in no_reason.content.decode() and LlmAllowlistEntry.objects.exists()
    root.post(ALLOWLIST, {"action": "remove_selected", "_selected_action": [entry.pk], "confirm": "yes",
                          "reason": "regressed"})
    assert not LlmAllowlistEntry.objects.exists()
    assert [e.after for e in ControlEvent.objects.filter(kind="llm_allowlist").order_by("id")] == [
        {"model": ["claude-admin"]}, {"model": []}]
    root.post(f"{ALLOWLIST}add/", {"kind": "prompt_version", "value": "p-7", "reason": "evaluated"})
    view = root.get(f"{ALLOWLIST}{LlmAllowlistEntry.objects.get().pk}/change/").content.decode()
    assert 'name="_save"' not in view  # an entry is never edited in place
