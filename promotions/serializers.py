"""Output shapes of the promotions API."""
from __future__ import annotations

from rest_framework import serializers

from promotions.models import GatePolicy, SigningKey


class SigningKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = SigningKey
        fields = ["key_id", "algorithm", "public_key", "status", "created_at", "retired_at", "revoked_at",
                  "revoked_reason"]
        read_only_fields = fields


class GatePolicySerializer(serializers.ModelSerializer):
    active = serializers.SerializerMethodField()

    class Meta:
        model = GatePolicy
        fields = ["version", "sha256", "active", "created_at", "created_by", "document"]
        read_only_fields = fields

    def get_active(self, policy: GatePolicy) -> bool:
        return policy.pk == self.context.get("active_policy_id")
