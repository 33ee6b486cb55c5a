"""Reads about principals and their roles."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from access.roles import Role


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
