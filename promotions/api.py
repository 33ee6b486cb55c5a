"""REST endpoints of the promotions app (agent contract: ``/api/v1/promotions/...``)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics

from access.permissions import HasRole
from access.roles import ALL_ROLES
from promotions import selectors
from promotions.serializers import GatePolicySerializer, SigningKeySerializer

LIMIT = OpenApiParameter("limit", int, description="Page size, 1 to 500 (default 100)")


class SigningKeyList(generics.ListAPIView):
    """Public keys that sign evaluations and decisions, by key_id (revoked ones included, marked)."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    serializer_class = SigningKeySerializer

    def get_queryset(self):
        return selectors.signing_key_list()

    @extend_schema(parameters=[LIMIT], operation_id="promotions_keys_list",
                   summary="Signing keys (Ed25519 public keys by key_id, with their status)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class GatePolicyList(generics.ListAPIView):
    """Gate policy versions; ``active`` marks the one new evaluations use."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    serializer_class = GatePolicySerializer

    def get_queryset(self):
        return selectors.policy_list()

    def get_serializer_context(self):
        active = selectors.policy_active()
        return {**super().get_serializer_context(), "active_policy_id": active.pk if active else None}

    @extend_schema(parameters=[LIMIT], operation_id="promotions_policies_list",
                   summary="Gate policy versions, newest first, with their documents and sha256")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
