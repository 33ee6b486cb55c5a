"""Choices of the research ledger, defined once."""
from django.db import models


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class StressCase(models.TextChoices):
    SPREAD = "spread", "Spread ×2"
    VOLATILITY = "volatility", "Volatility shock"
    LIQUIDITY = "liquidity", "Impact ×3"
    HALT = "halt", "Halt gap"


class LifecycleRole(models.TextChoices):
    CHAMPION = "champion", "Champion"
    CHALLENGER = "challenger", "Challenger"
    DEMOTED = "demoted", "Demoted"


class DatasetSource(models.TextChoices):
    EXTERNAL = "external", "External (named by a run artifact)"
    CSV = "csv", "CSV import"
    SYNTHETIC = "synthetic", "Synthetic generator"
    ALPACA = "alpaca", "Alpaca historical data"


# The statuses a run artifact may carry (``running`` is never submitted).
ARTIFACT_STATUSES = ("passed", "failed", "skipped")
