"""Output shapes of the research ledger API (input is validated by ``ledger.schemas``)."""
from rest_framework import serializers

from ledger.models import FoldMetric, ResearchCandidate, ResearchRun, StressMetric
from torghut_site.serializers import PlainDecimalField


class FoldSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="fold_name")
    order = serializers.IntegerField(source="fold_order")
    gross_pnl = PlainDecimalField()
    net_pnl = PlainDecimalField()
    max_drawdown = PlainDecimalField()
    turnover_ratio = PlainDecimalField()
    cost_bps = PlainDecimalField()
    sharpe = PlainDecimalField(allow_null=True)

    class Meta:
        model = FoldMetric
        fields = ["name", "order", "train_start", "train_end", "test_start", "test_end", "decision_count",
                  "trade_count", "gross_pnl", "net_pnl", "max_drawdown", "turnover_ratio", "cost_bps", "sharpe",
                  "regime_label"]


class StressSerializer(serializers.ModelSerializer):
    case = serializers.CharField(source="stress_case")
    net_pnl = PlainDecimalField()
    max_drawdown = PlainDecimalField()
    pessimistic_pnl_delta = PlainDecimalField()

    class Meta:
        model = StressMetric
        fields = ["case", "net_pnl", "max_drawdown", "pessimistic_pnl_delta"]


class CandidateSerializer(serializers.ModelSerializer):
    symbols = serializers.ListField(source="symbols_covered", child=serializers.CharField())
    lifecycle_role = serializers.CharField(read_only=True)
    folds = FoldSerializer(many=True)
    stress = StressSerializer(many=True)

    class Meta:
        model = ResearchCandidate
        fields = ["candidate_id", "candidate_hash", "parameter_set", "decision_count", "trade_count", "symbols",
                  "lifecycle_role", "folds", "stress"]


class DatasetOutSerializer(serializers.Serializer):
    version = serializers.CharField(source="dataset_version")
    fingerprint = serializers.CharField(source="dataset.fingerprint")
    # "from" is a Python keyword; the field is renamed in to_representation.
    from_ = serializers.DateTimeField(source="dataset_from")
    to = serializers.DateTimeField(source="dataset_to")
    snapshot_ref = serializers.CharField(source="dataset_snapshot_ref")
    symbols = serializers.ListField(source="dataset_symbols", child=serializers.CharField())

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["from"] = data.pop("from_")
        return data


class FeaturesOutSerializer(serializers.Serializer):
    schema_version = serializers.CharField(source="feature_schema_version")
    spec_hash = serializers.CharField(source="feature_spec_hash")
    snapshot_fingerprint = serializers.CharField(source="feature_snapshot.snapshot_fingerprint")
    null_rate = serializers.DictField(source="feature_snapshot.null_rate", child=serializers.CharField())
    staleness_ms_p95 = serializers.IntegerField(source="feature_snapshot.staleness_ms_p95")


class StrategyOutSerializer(serializers.Serializer):
    name = serializers.CharField(source="strategy_name")
    version = serializers.CharField(source="strategy_version")
    type = serializers.CharField(source="strategy_type")


class RunSerializer(serializers.ModelSerializer):
    strategy = StrategyOutSerializer(source="*")
    dataset = DatasetOutSerializer(source="*")
    features = FeaturesOutSerializer(source="*")
    candidates = CandidateSerializer(many=True)

    class Meta:
        model = ResearchRun
        fields = ["run_id", "schema_version", "status", "strategy", "code_commit", "runner_version", "dataset",
                  "features", "artifact_sha256", "created_by", "created_at", "candidates"]


class RunCreatedSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    artifact_sha256 = serializers.CharField()
    candidate_ids = serializers.ListField(child=serializers.CharField())
