"""Reads about principals, their roles, their per-strategy scope, tokens and the audit trail.

Every read that depends on which strategies a user may act on goes through
:func:`strategies_for` (or :func:`scope_queryset`, built on it).
"""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Model, QuerySet
from django.http import Http404
from guardian.shortcuts import get_objects_for_user
from knox.models import AuthToken

from access.roles import Role
from strategies.models import Strategy


def user_roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """The roles a user holds (groups named after roles), cached on the user object."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_torghut_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
        user._torghut_roles = cached
    return cached


def user_has_role(user, *roles: str) -> bool:
    if getattr(user, "is_superuser", False):
        return True
    return bool(user_roles(user) & set(roles))


# --- Per-strategy scope --------------------------------------------------------------------

class StrategyPerm:
    APPROVE = "approve_promotions"
    OPERATE = "operate_strategy"


#: The role a strategy permission narrows: without the role, the object permission grants nothing.
PERM_ROLE = {StrategyPerm.APPROVE: Role.APPROVER, StrategyPerm.OPERATE: Role.OPERATOR}


def _codename(perm: str) -> str:
    codename = perm.split(".", 1)[1] if "." in perm else perm
    if codename not in PERM_ROLE:
        raise ValueError(f"Unknown strategy permission {perm!r}; known: {', '.join(PERM_ROLE)}.")
    return codename


def strategies_for(user, perm: str) -> QuerySet[Strategy]:
    """The strategies on which ``user`` holds ``perm`` *for that object*.

    A model-wide (global) permission grants nothing here: scope is always per object.
    Superusers see every strategy; a user without the role the permission narrows sees none.
    """
    codename = _codename(perm)
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return Strategy.objects.none()
    if user.is_superuser:
        return Strategy.objects.all()
    if PERM_ROLE[codename] not in user_roles(user):
        return Strategy.objects.none()
    return get_objects_for_user(user, f"strategies.{codename}", klass=Strategy,
                                with_superuser=False, accept_global_perms=False)


def scope_queryset(user, qs: QuerySet, *, perm: str, strategy_field: str = "strategy") -> QuerySet:
    """Narrow any queryset whose rows point at a strategy to the user's scope for ``perm``."""
    allowed = strategies_for(user, perm).values("pk")
    if strategy_field in ("", "self", "pk"):
        return qs.filter(pk__in=allowed)
    return qs.filter(**{f"{strategy_field}__in": allowed})


def get_object_in_scope_or_404(user, qs: QuerySet, *, perm: str, strategy_field: str = "strategy",
                               **lookup) -> Model:
    """The object, or 404 when it does not exist *or* lies outside the user's scope (never 403:
    an out-of-scope object is not revealed)."""
    try:
        return scope_queryset(user, qs, perm=perm, strategy_field=strategy_field).get(**lookup)
    except qs.model.DoesNotExist:
        raise Http404(f"No {qs.model._meta.verbose_name} matches the given query.") from None


def may_place_orders(user, strategy_name: str) -> bool:
    """Whether ``user`` may place orders for ``strategy_name``: agents (the order routers) and
    superusers for any strategy; an operator only for the strategies they operate."""
    if getattr(user, "is_superuser", False):
        return True
    roles = user_roles(user)
    if Role.AGENT in roles:
        return True
    return Role.OPERATOR in roles and strategies_for(user, StrategyPerm.OPERATE).filter(name=strategy_name).exists()


def strategy_scope_of(user) -> dict[str, list[str]]:
    """``{"approve_promotions": [names...], "operate_strategy": [names...]}`` for ``user``."""
    return {perm: list(strategies_for(user, perm).order_by("name").values_list("name", flat=True))
            for perm in PERM_ROLE}


# --- Tokens ------------------------------------------------------------------------------

def token_list(*, username: str | None = None) -> QuerySet[AuthToken]:
    """Tokens (never their secrets: only the non-secret key prefix), newest first."""
    qs = AuthToken.objects.select_related("user", "usage").order_by("user__username", "-created")
    if username:
        qs = qs.filter(user__username=username)
    return qs


# --- Audit trail -------------------------------------------------------------------------

def audit_event_list() -> QuerySet:
    from access.models import AuditEvent

    return AuditEvent.objects.order_by("-id")


def can_view_audit(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and (
        user.is_superuser or Role.AUDITOR in user_roles(user))
