"""Input and output shapes of the execution API (field names are the agent contract's)."""
from __future__ import annotations

import re

from rest_framework import serializers

from execution.choices import Adapter, ExecutionStatus, OrderType, Side, TimeInForce
from execution.models import LeanOutage
from execution.services import OrderInput
from torghut_site.serializers import PlainDecimalField

CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-/]{0,31}$")


class OrderInputSerializer(serializers.Serializer):
    client_order_id = serializers.CharField(max_length=128)
    strategy = serializers.CharField(max_length=100)
    symbol = serializers.CharField(max_length=32)
    side = serializers.ChoiceField(choices=Side.choices)
    qty = serializers.DecimalField(max_digits=24, decimal_places=8, min_value=0, coerce_to_string=True)
    type = serializers.ChoiceField(choices=OrderType.choices, default=OrderType.MARKET)
    limit_price = serializers.DecimalField(max_digits=24, decimal_places=8, required=False, allow_null=True)
    time_in_force = serializers.ChoiceField(choices=TimeInForce.choices, default=TimeInForce.DAY)
    decision_price = serializers.DecimalField(max_digits=24, decimal_places=8, required=False, allow_null=True,
                                              help_text="Optional reference price of the decision (slippage).")
    correlation_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")

    def validate_client_order_id(self, value: str) -> str:
        if not CLIENT_ORDER_ID.match(value):
            raise serializers.ValidationError("1-128 characters of [A-Za-z0-9._:-].")
        return value

    def validate_symbol(self, value: str) -> str:
        value = value.strip().upper()
        if not SYMBOL.match(value):
            raise serializers.ValidationError("Not a ticker symbol.")
        return value

    def validate_qty(self, value):
        if value <= 0:
            raise serializers.ValidationError("Must be greater than 0.")
        return value

    def validate(self, attrs):
        limit_price = attrs.get("limit_price")
        if attrs["type"] == OrderType.LIMIT and (limit_price is None or limit_price <= 0):
            raise serializers.ValidationError({"limit_price": ["A positive limit_price is required for limit orders."]})
        if attrs["type"] == OrderType.MARKET and limit_price is not None:
            raise serializers.ValidationError({"limit_price": ["Market orders take no limit_price."]})
        return attrs

    def to_input(self) -> OrderInput:
        d = self.validated_data
        return OrderInput(client_order_id=d["client_order_id"], strategy=d["strategy"], symbol=d["symbol"],
                          side=d["side"], qty=d["qty"], order_type=d["type"], time_in_force=d["time_in_force"],
                          limit_price=d.get("limit_price"), decision_price=d.get("decision_price"),
                          correlation_id=d.get("correlation_id", ""))


class ExecutionSerializer(serializers.Serializer):
    """The execution row of the agent contract (plain Serializer: explicit fields, cheap per order)."""

    id = serializers.IntegerField(read_only=True)
    client_order_id = serializers.CharField(read_only=True)
    broker_order_id = serializers.CharField(read_only=True, allow_null=True)
    symbol = serializers.CharField(read_only=True)
    side = serializers.ChoiceField(choices=Side.choices, read_only=True)
    order_type = serializers.ChoiceField(choices=OrderType.choices, read_only=True)
    time_in_force = serializers.ChoiceField(choices=TimeInForce.choices, read_only=True)
    submitted_qty = PlainDecimalField()
    filled_qty = PlainDecimalField()
    avg_fill_price = PlainDecimalField(allow_null=True)
    status = serializers.ChoiceField(choices=ExecutionStatus.choices, read_only=True)
    execution_expected_adapter = serializers.ChoiceField(choices=Adapter.choices, read_only=True, allow_null=True)
    execution_actual_adapter = serializers.ChoiceField(choices=Adapter.choices, read_only=True, allow_null=True)
    execution_fallback_reason = serializers.CharField(read_only=True)
    execution_fallback_count = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    last_update_at = serializers.DateTimeField(read_only=True)
    last_error = serializers.CharField(read_only=True)
    legacy = serializers.BooleanField(read_only=True)


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
