"""Choices of the autonomy controls, defined once."""
from django.db import models


class TradingStateChoice(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    REDUCING = "REDUCING", "Reducing"
    HALTED = "HALTED", "Halted"


class SymbolMode(models.TextChoices):
    ENABLED = "enabled", "Enabled"
    CANARY = "canary", "Canary"
    DISABLED = "disabled", "Disabled"
