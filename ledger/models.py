"""The research ledger: the source of truth for every backtest and walk-forward run.

Tables mirror torghut's ``research_*`` tables. Everything here is append-only: a PostgreSQL
trigger refuses UPDATE and DELETE, so a stored run can be replayed exactly, forever.
"""
from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

from core.db import append_only
from ledger.choices import DatasetSource, LifecycleRole, RunStatus, StressCase
from strategies.models import Strategy

MONEY = {"max_digits": 24, "decimal_places": 8}


class Dataset(models.Model):
    """A dataset identified by the fingerprint of its canonical rows; shared by runs."""

    fingerprint = models.CharField(max_length=71, unique=True)
    version = models.CharField(max_length=100)
    source = models.CharField(max_length=20, choices=DatasetSource.choices, default=DatasetSource.EXTERNAL)
    symbols = ArrayField(models.CharField(max_length=32), default=list)
    timeframe = models.CharField(max_length=16, default="1Min")
    first_ts = models.DateTimeField(null=True, blank=True)
    last_ts = models.DateTimeField(null=True, blank=True)
    bar_count = models.PositiveIntegerField(default=0, help_text="Bars stored for this dataset (0: external).")
    snapshot_ref = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "research_datasets"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(fingerprint__regex=r"^sha256:[0-9a-f]{64}$"),
                                   name="dataset_fingerprint_sha256"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.version} ({self.fingerprint[:19]}…)"


class Bar(models.Model):
    """One OHLCV bar of a stored dataset."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="bars")
    symbol = models.CharField(max_length=32)
    ts = models.DateTimeField()
    open = models.DecimalField(max_digits=18, decimal_places=6)
    high = models.DecimalField(max_digits=18, decimal_places=6)
    low = models.DecimalField(max_digits=18, decimal_places=6)
    close = models.DecimalField(max_digits=18, decimal_places=6)
    volume = models.DecimalField(max_digits=20, decimal_places=4)
    spread_bps = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)

    class Meta:
        db_table = "research_bars"
        constraints = [
            models.UniqueConstraint(fields=["dataset", "symbol", "ts"], name="bar_unique_per_dataset_symbol_ts"),
            models.CheckConstraint(condition=Q(volume__gte=0), name="bar_volume_non_negative"),
            models.CheckConstraint(condition=Q(high__gte=F("low")), name="bar_high_gte_low"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.symbol} {self.ts:%Y-%m-%d %H:%M}"


class FeatureSnapshot(models.Model):
    """The feature values a run was computed from, identified by their fingerprint."""

    snapshot_fingerprint = models.CharField(max_length=71, unique=True)
    schema_version = models.CharField(max_length=32)
    spec_hash = models.CharField(max_length=71)
    null_rate = models.JSONField(default=dict)
    staleness_ms_p95 = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "research_feature_snapshots"
        constraints = [
            models.CheckConstraint(condition=Q(snapshot_fingerprint__regex=r"^sha256:[0-9a-f]{64}$"),
                                   name="feature_snapshot_fingerprint_sha256"),
            models.CheckConstraint(condition=Q(staleness_ms_p95__gte=0), name="feature_staleness_non_negative"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return self.snapshot_fingerprint


class ResearchRun(models.Model):
    run_id = models.CharField(max_length=64, unique=True)
    schema_version = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=RunStatus.choices)
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="runs")
    strategy_name = models.CharField(max_length=100)
    strategy_type = models.CharField(max_length=64)
    strategy_version = models.CharField(max_length=64)
    code_commit = models.CharField(max_length=64)
    runner_version = models.CharField(max_length=64)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="runs")
    dataset_version = models.CharField(max_length=100)
    dataset_from = models.DateTimeField()
    dataset_to = models.DateTimeField()
    dataset_snapshot_ref = models.CharField(max_length=500, blank=True, default="")
    dataset_symbols = ArrayField(models.CharField(max_length=32), default=list)
    feature_snapshot = models.ForeignKey(FeatureSnapshot, on_delete=models.PROTECT, related_name="runs")
    feature_schema_version = models.CharField(max_length=32)
    feature_spec_hash = models.CharField(max_length=71)
    artifact_sha256 = models.CharField(max_length=64)
    artifact = models.JSONField(help_text="The artifact as accepted; its canonical JSON hashes to artifact_sha256.")
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "research_runs"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["strategy_name", "-id"], name="run_strategy_recent"),
            models.Index(fields=["status", "-id"], name="run_status_recent"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(run_id__regex=r"^[A-Za-z0-9._-]{1,64}$"), name="run_id_shape"),
            models.CheckConstraint(condition=Q(artifact_sha256__regex=r"^[0-9a-f]{64}$"), name="run_artifact_sha256"),
            models.CheckConstraint(condition=Q(dataset_from__lte=F("dataset_to")), name="run_dataset_window"),
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="run_status_valid"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return self.run_id


class ResearchCandidate(models.Model):
    run = models.ForeignKey(ResearchRun, on_delete=models.PROTECT, related_name="candidates")
    candidate_id = models.CharField(max_length=128, unique=True)
    candidate_hash = models.CharField(max_length=64)
    position = models.PositiveIntegerField(help_text="Order within the run's artifact.")
    parameter_set = models.JSONField(default=dict)
    decision_count = models.PositiveIntegerField()
    trade_count = models.PositiveIntegerField()
    symbols_covered = ArrayField(models.CharField(max_length=32), default=list)

    class Meta:
        db_table = "research_candidates"
        ordering = ["run_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="candidate_position_unique"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return self.candidate_id


class CandidateLifecycleEvent(models.Model):
    """Append-only history of a candidate's lifecycle role; the latest row is current."""

    candidate = models.ForeignKey(ResearchCandidate, on_delete=models.PROTECT, related_name="lifecycle_events")
    role = models.CharField(max_length=16, choices=LifecycleRole.choices)
    reason = models.TextField(blank=True, default="")
    actor = models.CharField(max_length=150, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "research_candidate_lifecycle"
        ordering = ["candidate_id", "id"]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.candidate_id}: {self.role}"


class FoldMetric(models.Model):
    candidate = models.ForeignKey(ResearchCandidate, on_delete=models.PROTECT, related_name="folds")
    fold_name = models.CharField(max_length=64)
    fold_order = models.PositiveIntegerField()
    train_start = models.DateTimeField()
    train_end = models.DateTimeField()
    test_start = models.DateTimeField()
    test_end = models.DateTimeField()
    decision_count = models.PositiveIntegerField()
    trade_count = models.PositiveIntegerField()
    gross_pnl = models.DecimalField(**MONEY)
    net_pnl = models.DecimalField(**MONEY)
    max_drawdown = models.DecimalField(**MONEY)
    turnover_ratio = models.DecimalField(**MONEY)
    cost_bps = models.DecimalField(**MONEY)
    sharpe = models.DecimalField(**MONEY, null=True, blank=True)
    regime_label = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        db_table = "research_fold_metrics"
        ordering = ["candidate_id", "fold_order"]
        constraints = [
            models.UniqueConstraint(fields=["candidate", "fold_order"], name="fold_order_unique"),
            models.UniqueConstraint(fields=["candidate", "fold_name"], name="fold_name_unique"),
            models.CheckConstraint(condition=Q(train_start__lte=F("train_end")), name="fold_train_window"),
            models.CheckConstraint(condition=Q(train_end__lt=F("test_start")), name="fold_train_before_test"),
            models.CheckConstraint(condition=Q(test_start__lte=F("test_end")), name="fold_test_window"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.candidate_id} {self.fold_name}"


class StressMetric(models.Model):
    candidate = models.ForeignKey(ResearchCandidate, on_delete=models.PROTECT, related_name="stress")
    stress_case = models.CharField(max_length=16, choices=StressCase.choices)
    net_pnl = models.DecimalField(**MONEY)
    max_drawdown = models.DecimalField(**MONEY)
    pessimistic_pnl_delta = models.DecimalField(**MONEY)

    class Meta:
        db_table = "research_stress_metrics"
        ordering = ["candidate_id", "stress_case"]
        constraints = [
            models.UniqueConstraint(fields=["candidate", "stress_case"], name="stress_case_unique"),
            models.CheckConstraint(condition=Q(stress_case__in=StressCase.values), name="stress_case_valid"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.candidate_id} {self.stress_case}"


class RunSummary(models.Model):
    """Figures of a run's best candidate (highest net P&L over the test folds), derived from its
    stored rows so the runs list sorts and filters them in one query. Derived, not evidence: the
    deflated Sharpe ratio and PBO follow the active gate policy, so a policy activation refreshes
    them (``manage.py summarise_runs`` does it by hand)."""

    run = models.OneToOneField(ResearchRun, on_delete=models.CASCADE, primary_key=True, related_name="summary")
    best_candidate = models.ForeignKey(ResearchCandidate, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="+")
    candidate_count = models.PositiveIntegerField(default=0)
    fold_count = models.PositiveIntegerField(default=0, help_text="Test folds of the best candidate.")
    net_pnl = models.DecimalField(**MONEY, null=True, blank=True)
    sharpe = models.DecimalField(**MONEY, null=True, blank=True, help_text="Mean of the folds' annualised Sharpe.")
    max_drawdown = models.DecimalField(**MONEY, null=True, blank=True, help_text="Worst fold, positive.")
    deflated_sharpe = models.FloatField(null=True, blank=True)
    pbo = models.FloatField(null=True, blank=True)
    selection_policy = models.CharField(max_length=64, blank=True, default="",
                                        help_text="The gate policy that computed the deflated Sharpe and PBO.")
    selection_note = models.TextField(blank=True, default="", help_text="Why the deflated Sharpe or PBO is blank.")
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "research_run_summaries"
        # the runs list sorts on each figure both ways, blanks last, newest first on ties
        indexes = [
            models.Index(getattr(F(column), direction)(nulls_last=True), F("run").desc(),
                         name=f"run_summary_{short}_{direction}")
            for column, short in (("net_pnl", "net"), ("sharpe", "sharpe"), ("deflated_sharpe", "dsr"),
                                  ("max_drawdown", "dd"), ("pbo", "pbo"))
            for direction in ("asc", "desc")
        ]

    def __str__(self) -> str:
        return f"summary of {self.run_id}"
