"""Reads of the promotions app."""
from __future__ import annotations

from django.db.models import QuerySet

from promotions.choices import KeyStatus
from promotions.models import GatePolicy, PolicyActivation, SigningKey


def policy_active() -> GatePolicy | None:
    activation = PolicyActivation.objects.select_related("policy").order_by("-id").first()
    return activation.policy if activation else None


def policy_list() -> QuerySet[GatePolicy]:
    return GatePolicy.objects.order_by("-id")


def policy_get(*, version: str) -> GatePolicy:
    return GatePolicy.objects.get(version=version)


def signing_key_list() -> QuerySet[SigningKey]:
    return SigningKey.objects.order_by("-id")


def verifying_keys() -> dict[str, str]:
    """``{key_id: public_key}`` of every key whose signatures verify (active and retired)."""
    return dict(SigningKey.objects.exclude(status=KeyStatus.REVOKED).values_list("key_id", "public_key"))
