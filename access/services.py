"""Writes about principals: roles and API tokens."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from knox.models import AuthToken

from access.roles import Role


def roles_bootstrap() -> list[tuple[str, bool]]:
    """Create the role groups if missing. Idempotent; returns (role, created) pairs."""
    results = []
    with transaction.atomic():
        for role in Role.values:
            _, created = Group.objects.get_or_create(name=role)
            results.append((role, created))
    return results


@dataclass(frozen=True)
class PrincipalResult:
    username: str
    created: bool
    roles: tuple[str, ...]
    token: str


def principal_create(*, name: str, roles: list[str], strategies: list[str] | None = None,
                     expires_in: timedelta | None = None) -> PrincipalResult:
    """Create a user (or add roles to an existing one) and issue a fresh API token.

    The token is returned once; only its hash is stored.
    """
    unknown = sorted(set(roles) - set(Role.values))
    if unknown:
        raise ValueError(f"Unknown role(s): {', '.join(unknown)}. Known: {', '.join(Role.values)}.")
    if not roles:
        raise ValueError("At least one --role is required.")
    User = get_user_model()
    with transaction.atomic():
        roles_bootstrap()
        user, created = User.objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(*Group.objects.filter(name__in=roles))
        _, token = AuthToken.objects.create(user=user, expiry=expires_in)
        held = tuple(sorted(user.groups.filter(name__in=Role.values).values_list("name", flat=True)))
    return PrincipalResult(username=user.username, created=created, roles=held, token=token)
