"""Principals, roles, tokens, per-strategy scope, the agent policy and failed-login throttling."""
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.http import Http404
from django.utils import timezone
from guardian.shortcuts import assign_perm
from knox.models import AuthToken
from rest_framework.test import APIClient

from access import policy, selectors, services
from access.models import AuditEvent, TokenUsage
from access.roles import Role
from ledger.models import ResearchRun
from strategies.models import Strategy
from tests.access.factories import StrategyFactory, UserFactory
from tests.ledger.factories import ArtifactFactory, RunFactory

pytestmark = pytest.mark.django_db

APPROVE, OPERATE = selectors.StrategyPerm.APPROVE, selectors.StrategyPerm.OPERATE


def run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip().splitlines()


def token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


# --- roles and principals -----------------------------------------------------------------

def test_bootstrap_roles_is_idempotent_and_audited():
    first = run("bootstrap_roles")
    second = run("bootstrap_roles")
    assert first == [f"{r}: created" for r in Role.values]
    assert second == [f"{r}: exists" for r in Role.values]
    events = AuditEvent.objects.filter(action="roles_bootstrap", via="command")
    assert events.count() == 2 and events.first().actor.startswith("cli:")


def test_create_principal_prints_the_token_alone_last_and_stores_only_its_hash():
    lines = run("create_principal", "alice", "--role", "researcher", "--role", "auditor")
    token = lines[-1]
    assert " " not in token and len(token) >= 40
    stored = AuthToken.objects.get(user__username="alice")
    assert stored.digest != token and token not in stored.digest
    assert not AuditEvent.objects.filter(details__icontains=token).exists()
    assert token_client(token).get("/api/v1/access/me").json()["roles"] == ["auditor", "researcher"]
    event = AuditEvent.objects.get(action="principal_create")
    assert event.object_ref == "user:alice" and event.details["token_key"] == stored.token_key


def test_create_principal_adds_roles_to_an_existing_user():
    run("create_principal", "bob", "--role", "researcher")
    lines = run("create_principal", "bob", "--role", "operator")
    assert lines[0] == "updated bob with roles: operator, researcher"
    assert AuthToken.objects.filter(user__username="bob").count() == 2


def test_strategy_flag_grants_per_object_rights_on_known_strategies():
    StrategyFactory(name="macd_rsi"), StrategyFactory(name="breakout")
    lines = run("create_principal", "ann", "--role", "approver", "--role", "operator",
                "--strategy", "macd_rsi", "--strategy", "breakout")
    assert "strategy macd_rsi: approve_promotions" in lines and "strategy breakout: operate_strategy" in lines
    user = AuthToken.objects.get(user__username="ann").user
    assert set(selectors.strategies_for(user, APPROVE).values_list("name", flat=True)) == {"macd_rsi", "breakout"}
    assert set(selectors.strategies_for(user, OPERATE).values_list("name", flat=True)) == {"macd_rsi", "breakout"}


def test_a_grant_never_creates_a_strategy():
    """Only a research run registers a strategy: a typo in --strategy is refused, nothing written."""
    StrategyFactory(name="macd_rsi")
    with pytest.raises(CommandError, match="Unknown strategy 'macd_rsj'.*known: macd_rsi"):
        call_command("create_principal", "ann", "--role", "operator", "--strategy", "macd_rsj", stdout=StringIO())
    assert list(Strategy.objects.values_list("name", flat=True)) == ["macd_rsi"]
    assert not AuthToken.objects.filter(user__username="ann").exists()
    assert AuditEvent.objects.filter(action="principal_create", outcome="invalid", object_ref="user:ann").exists()


def test_strategy_flag_only_narrows_the_matching_role():
    StrategyFactory(name="macd_rsi")
    run("create_principal", "op", "--role", "operator", "--strategy", "macd_rsi")
    user = AuthToken.objects.get(user__username="op").user
    assert list(selectors.strategies_for(user, OPERATE).values_list("name", flat=True)) == ["macd_rsi"]
    assert not selectors.strategies_for(user, APPROVE).exists()
    with pytest.raises(CommandError, match="approver or operator"):
        call_command("create_principal", "res", "--role", "researcher", "--strategy", "x", stdout=StringIO())
    assert AuditEvent.objects.filter(action="principal_create", outcome="invalid", object_ref="user:res").exists()


def test_an_agent_can_never_also_be_an_approver():
    run("create_principal", "bot", "--role", "agent")
    with pytest.raises(CommandError, match="agent can never approve"):
        call_command("create_principal", "bot", "--role", "approver", stdout=StringIO())
    assert selectors.user_roles(AuthToken.objects.filter(user__username="bot").first().user) == {"agent"}


def test_expiring_token_stops_working_after_its_expiry():
    lines = run("create_principal", "tmp", "--role", "auditor", "--expires-days", "2")
    token = lines[-1]
    stored = AuthToken.objects.get(user__username="tmp")
    assert timedelta(days=1, hours=23) < stored.expiry - timezone.now() <= timedelta(days=2)
    assert token_client(token).get("/api/v1/access/me").status_code == 200
    AuthToken.objects.filter(pk=stored.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert token_client(token).get("/api/v1/access/me").status_code == 401
    with pytest.raises(CommandError):
        call_command("create_principal", "tmp2", "--role", "auditor", "--expires-days", "0", stdout=StringIO())


def test_revoke_token_by_key_and_list_tokens_never_shows_secrets():
    first = services.principal_create(name="carol", roles=["researcher"])
    second = services.principal_create(name="carol", roles=["researcher"])
    listing = "\n".join(run("list_tokens", "carol"))
    assert first.token_key in listing and first.token not in listing and second.token not in listing
    run("revoke_token", "carol", "--key", first.token_key)
    assert token_client(first.token).get("/api/v1/access/me").status_code == 401
    assert token_client(second.token).get("/api/v1/access/me").status_code == 200
    run("revoke_token", "carol", "--all")
    assert token_client(second.token).get("/api/v1/access/me").status_code == 401
    assert AuditEvent.objects.filter(action="token_revoke").count() == 2
    with pytest.raises(CommandError):
        call_command("revoke_token", "carol", "--all", stdout=StringIO())


def test_last_used_is_stamped_at_most_once_a_minute(monkeypatch):
    import time

    from access import authentication

    result = services.principal_create(name="dan", roles=["auditor"])
    assert not TokenUsage.objects.exists()
    client = token_client(result.token)
    client.get("/api/v1/access/me")
    first = TokenUsage.objects.get().last_used_at
    client.get("/api/v1/access/me")
    assert TokenUsage.objects.get().last_used_at == first
    TokenUsage.objects.update(last_used_at=first - timedelta(minutes=2))
    later = time.monotonic() + 120  # two minutes on for this process too
    monkeypatch.setattr(authentication.time, "monotonic", lambda: later)
    body = client.get("/api/v1/access/me").json()
    assert TokenUsage.objects.get().last_used_at > first - timedelta(minutes=2)
    assert body["token"]["token_key"] == result.token_key


# --- per-strategy scope ----------------------------------------------------------------------

def test_object_permission_scopes_to_that_strategy_only():
    x, y = StrategyFactory(name="x"), StrategyFactory(name="y")
    user = UserFactory(roles=[Role.APPROVER])
    assign_perm(f"strategies.{APPROVE}", user, x)
    assert list(selectors.strategies_for(user, APPROVE)) == [x]
    assert not selectors.strategies_for(user, OPERATE).exists()
    assert selectors.get_object_in_scope_or_404(user, Strategy.objects.all(), perm=APPROVE,
                                                strategy_field="pk", name="x") == x
    with pytest.raises(Http404):
        selectors.get_object_in_scope_or_404(user, Strategy.objects.all(), perm=APPROVE,
                                             strategy_field="pk", name=y.name)


def test_a_model_wide_permission_does_not_grant_every_strategy():
    StrategyFactory(name="x")
    user = UserFactory(roles=[Role.APPROVER])
    user.user_permissions.add(Permission.objects.get(codename=APPROVE))
    assert user.has_perm(f"strategies.{APPROVE}")
    assert not selectors.strategies_for(user, APPROVE).exists()


def test_object_permission_without_the_role_grants_nothing():
    x = StrategyFactory(name="x")
    user = UserFactory(roles=[Role.RESEARCHER])
    assign_perm(f"strategies.{APPROVE}", user, x)
    assert not selectors.strategies_for(user, APPROVE).exists()


def test_group_object_permission_counts_and_superuser_sees_all():
    from django.contrib.auth.models import Group

    x, _ = StrategyFactory(name="x"), StrategyFactory(name="y")
    desk = Group.objects.create(name="desk-x")
    assign_perm(f"strategies.{OPERATE}", desk, x)
    user = UserFactory(roles=[Role.OPERATOR])
    user.groups.add(desk)
    assert list(selectors.strategies_for(user, OPERATE)) == [x]
    boss = UserFactory(is_superuser=True)
    assert selectors.strategies_for(boss, OPERATE).count() == 2


def test_scope_queryset_filters_rows_pointing_at_strategies():
    RunFactory(body=ArtifactFactory(strategy={"name": "alpha", "version": "1", "type": "t"}))
    RunFactory(body=ArtifactFactory(strategy={"name": "beta", "version": "1", "type": "t"}))
    user = UserFactory(roles=[Role.OPERATOR])
    assign_perm(f"strategies.{OPERATE}", user, Strategy.objects.get(name="alpha"))
    runs = selectors.scope_queryset(user, ResearchRun.objects.all(), perm=OPERATE)
    assert list(runs.values_list("strategy_name", flat=True)) == ["alpha"]
    assert not selectors.scope_queryset(user, ResearchRun.objects.all(), perm=APPROVE).exists()


def test_out_of_scope_strategy_answers_404_and_in_scope_200(make_client):
    StrategyFactory(name="mine"), StrategyFactory(name="other")
    client = make_client("approver")
    user = client.principal
    assign_perm(f"strategies.{APPROVE}", AuthToken.objects.get(token_key=user.token_key).user,
                Strategy.objects.get(name="mine"))
    assert client.get("/api/v1/access/strategies/mine").json()["permissions"] == [APPROVE]
    assert client.get("/api/v1/access/strategies/other").status_code == 404
    assert client.get("/api/v1/access/strategies/missing").status_code == 404


# --- agents ----------------------------------------------------------------------------------

@pytest.mark.parametrize("action", sorted(policy.FORBIDDEN_FOR_AGENT))
def test_agents_can_never_approve_lift_a_halt_or_change_a_policy(action):
    agent = UserFactory(roles=[Role.AGENT, Role.OPERATOR])
    operator = UserFactory(roles=[Role.OPERATOR])
    assert policy.agent_forbidden(agent, action)
    assert not policy.agent_forbidden(operator, action)
    with pytest.raises(policy.AgentForbidden) as err:
        policy.ensure_not_agent(agent, action)
    assert err.value.http_status == 403 and err.value.code == "agent_forbidden"


def test_superuser_agent_is_still_an_agent_and_unknown_actions_are_errors():
    agent = UserFactory(roles=[Role.AGENT], is_superuser=True)
    assert policy.agent_forbidden(agent, policy.GuardedAction.APPROVE_PROMOTION)
    with pytest.raises(ValueError):
        policy.agent_forbidden(agent, "make_coffee")


def test_not_agent_permission_class_refuses_agents_with_403():
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory, force_authenticate
    from rest_framework.views import APIView

    from access.permissions import HasRole

    class Approve(APIView):
        permission_classes = [HasRole, policy.NotAgentFor]
        required_roles = {"POST": {Role.APPROVER, Role.AGENT}}
        guarded_actions = {"POST": policy.GuardedAction.APPROVE_PROMOTION}

        def post(self, request):
            return Response({"ok": True})

    factory = APIRequestFactory()
    for roles, expected in (([Role.AGENT], 403), ([Role.APPROVER], 200)):
        request = factory.post("/x", {}, format="json")
        force_authenticate(request, user=UserFactory(roles=roles))
        response = Approve.as_view()(request)
        assert response.status_code == expected


# --- throttling ------------------------------------------------------------------------------

def test_api_is_throttled_per_token(settings, make_client):
    from django.core.cache import cache

    cache.clear()
    settings.API_TOKEN_RATE = "3/min"
    first, second = make_client("auditor"), make_client("auditor")
    codes = [first.get("/api/v1/access/me").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    body = first.get("/api/v1/access/me").json()
    assert body["error"]["code"] == "throttled"
    assert second.get("/api/v1/access/me").status_code == 200, "another token has its own budget"
    cache.clear()


# --- failed logins ---------------------------------------------------------------------------

def test_failed_logins_are_throttled_per_username_and_address(client, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    UserFactory(username="erin")
    for _ in range(3):
        response = client.post("/accounts/login/", {"username": "erin", "password": "wrong"})
        assert response.status_code == 200 and b"correct username and password" in response.content
    locked = client.post("/accounts/login/", {"username": "erin", "password": "correct horse battery staple"})
    assert locked.status_code == 429 and b"Too many failed logins" in locked.content
    other = client.post("/accounts/login/", {"username": "erin", "password": "correct horse battery staple"},
                        REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 302, "another address is not locked out"
    refusals = AuditEvent.objects.filter(action="login", outcome="refused")
    assert refusals.count() == 4 and refusals.filter(details__reason="locked_out").count() == 1
    assert not AuditEvent.objects.filter(details__icontains="wrong").exists(), "passwords are never recorded"


def test_a_successful_login_clears_the_failures(client, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    UserFactory(username="fay")
    client.post("/accounts/login/", {"username": "fay", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "fay", "password": "correct horse battery staple"}
                       ).status_code == 302
    client.post("/accounts/login/", {"username": "fay", "password": "wrong"})
    assert not services.login_locked_out(username="fay", ip="127.0.0.1")


def test_admin_login_is_throttled_too(client, settings):
    settings.LOGIN_FAILURE_LIMIT = 1
    UserFactory(username="root", is_staff=True, is_superuser=True)
    client.post("/admin/login/", {"username": "root", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "root", "password": "correct horse battery staple"})
    assert response.status_code == 200 and b"Too many failed logins" in response.content


def test_expired_tokens_are_refused_and_purged():
    from knox.models import AuthToken

    expired = services.principal_create(name="erin", roles=["auditor"], expires_in=timedelta(days=1))
    live = services.principal_create(name="erin", roles=["auditor"])
    AuthToken.objects.filter(token_key=expired.token_key).update(expiry=timezone.now() - timedelta(seconds=1))
    assert token_client(expired.token).get("/api/v1/access/me").status_code == 401
    assert token_client(live.token).get("/api/v1/access/me").status_code == 200
    AuthToken.objects.create(user=AuthToken.objects.get(token_key=live.token_key).user, expiry=timedelta(days=1))
    AuthToken.objects.filter(expiry__isnull=False).update(expiry=timezone.now() - timedelta(seconds=1))
    assert services.tokens_purge_expired() == 1
    assert AuthToken.objects.filter(user__username="erin").count() == 1


def test_auto_refresh_still_renews_expiring_tokens(settings):
    from knox.models import AuthToken
    from knox.settings import knox_settings

    result = services.principal_create(name="fay", roles=["auditor"], expires_in=timedelta(minutes=5))
    settings.REST_KNOX = {**settings.REST_KNOX, "AUTO_REFRESH": True, "TOKEN_TTL": timedelta(hours=2),
                          "MIN_REFRESH_INTERVAL": 0}
    try:
        assert token_client(result.token).get("/api/v1/access/me").status_code == 200
        expiry = AuthToken.objects.get(token_key=result.token_key).expiry
        assert expiry > timezone.now() + timedelta(hours=1)
    finally:
        knox_settings.reload()
