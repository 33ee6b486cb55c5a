"""REST endpoints about the caller's own access: who am I, and which strategies may I act on."""
from django.http import Http404
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework.response import Response
from rest_framework.views import APIView

from access import selectors
from access.permissions import HasRole
from access.roles import ALL_ROLES, Role
from access.serializers import MeSerializer, StrategyInScopeSerializer
from strategies.models import Strategy


class Me(APIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses=MeSerializer, summary="The calling principal: roles, strategy scope, token")
    def get(self, request):
        token = request.auth if isinstance(request.auth, AuthToken) else None
        usage = getattr(token, "usage", None) if token is not None else None
        payload = {
            "username": request.user.get_username(),
            "roles": sorted(selectors.user_roles(request.user)),
            "is_superuser": request.user.is_superuser,
            "strategies": selectors.strategy_scope_of(request.user),
            "token": None if token is None else {
                "token_key": token.token_key, "created": token.created, "expiry": token.expiry,
                "last_used_at": usage.last_used_at if usage else None},
        }
        return Response(MeSerializer(payload).data)


class StrategyInScope(APIView):
    """One strategy the caller may approve promotions of or operate; 404 outside that scope."""

    permission_classes = [HasRole]
    required_roles = {"GET": {Role.APPROVER, Role.OPERATOR}}

    @extend_schema(responses=StrategyInScopeSerializer, summary="A strategy within the caller's scope")
    def get(self, request, name: str):
        perms = [perm for perm in selectors.PERM_ROLE
                 if selectors.scope_queryset(request.user, Strategy.objects.filter(name=name),
                                             perm=perm, strategy_field="pk").exists()]
        if not perms:
            raise Http404
        strategy = Strategy.objects.get(name=name)
        return Response(StrategyInScopeSerializer(
            {"name": strategy.name, "description": strategy.description, "permissions": perms}).data)
