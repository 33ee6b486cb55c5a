from rest_framework import serializers


class StrategyScopeSerializer(serializers.Serializer):
    approve_promotions = serializers.ListField(child=serializers.CharField())
    operate_strategy = serializers.ListField(child=serializers.CharField())


class TokenInfoSerializer(serializers.Serializer):
    token_key = serializers.CharField()
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    is_superuser = serializers.BooleanField()
    strategies = StrategyScopeSerializer()
    token = TokenInfoSerializer(allow_null=True)


class StrategyInScopeSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
