import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count
from knox.models import AuthToken

from access.selectors import user_roles
from demo import services

pytestmark = pytest.mark.django_db


def test_demo_principals_are_idempotent_and_only_the_agent_gets_new_tokens():
    first = services.demo_principals()
    second = services.demo_principals()
    assert first.agent_token != second.agent_token
    counts = dict(AuthToken.objects.values_list("user__username").order_by().annotate(n=Count("pk")))
    assert counts == {"demo": 1, "demo-researcher": 1, "demo-agent": 2}
    demo = get_user_model().objects.get(username="demo")
    assert demo.check_password(services.DEMO_PASSWORD) and demo.is_superuser
    assert {"operator", "approver", "auditor", "researcher"} <= user_roles(demo)
