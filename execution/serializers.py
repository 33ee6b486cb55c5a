"""Output shapes of the execution API's aggregates and outages (orders and execution rows are
pydantic models in ``execution.schemas``)."""
from __future__ import annotations

from rest_framework import serializers

from execution.models import LeanOutage


class RouteStatSerializer(serializers.Serializer):
    bucket = serializers.DateTimeField()
    requests = serializers.IntegerField()
    fallbacks = serializers.IntegerField()
    fallback_rate = serializers.FloatField()
    by_reason = serializers.DictField(child=serializers.IntegerField())


class LeanOutageSerializer(serializers.ModelSerializer):
    class Meta:
        model = LeanOutage
        fields = ["id", "started_at", "ended_at", "reason", "failures"]
        read_only_fields = fields
