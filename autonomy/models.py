"""Persisted control flags that gate order flow (kill switch, per-symbol modes, LEAN lane).

Kept deliberately small: execution reads these through :mod:`autonomy.selectors`; a later
issue grows autonomy (heartbeats, budgets, LLM stages) around the same rows.
"""
from __future__ import annotations

from django.db import models
from django.db.models import Q

from autonomy.choices import SymbolMode, TradingStateChoice
from core.db import append_only


class TradingState(models.Model):
    """The single trading-state row (id = 1): ACTIVE | REDUCING | HALTED, and the LEAN lane switch."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    state = models.CharField(max_length=16, choices=TradingStateChoice.choices, default=TradingStateChoice.ACTIVE)
    reason = models.TextField(blank=True, default="")
    lean_enabled = models.BooleanField(default=True)
    lean_disabled_reason = models.TextField(blank=True, default="")
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "autonomy_trading_state"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="trading_state_singleton"),
            models.CheckConstraint(condition=Q(state__in=TradingStateChoice.values), name="trading_state_valid"),
        ]

    def __str__(self) -> str:
        return self.state


class SymbolControl(models.Model):
    """Per-symbol mode; a symbol without a row is ``enabled``."""

    symbol = models.CharField(max_length=32, unique=True)
    mode = models.CharField(max_length=16, choices=SymbolMode.choices, default=SymbolMode.ENABLED)
    reason = models.TextField(blank=True, default="")
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "autonomy_symbol_controls"
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(condition=Q(mode__in=SymbolMode.values), name="symbol_mode_valid"),
            models.CheckConstraint(condition=Q(symbol=models.functions.Upper("symbol")), name="symbol_upper"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol}: {self.mode}"


# --- readiness (Phase D) -----------------------------------------------------------------------

class ReadinessSnapshot(models.Model):
    """One evaluation of the readiness scorecard (:mod:`autonomy.readiness`), stored with the facts
    it read; ``green_since`` and the Phase D rule read the unbroken run of green snapshots."""

    at = models.DateTimeField(db_index=True)
    green = models.BooleanField()
    criteria = models.JSONField()
    facts = models.JSONField()
    window_start = models.DateTimeField()
    created_by = models.CharField(max_length=150)

    class Meta:
        db_table = "autonomy_readiness_snapshots"
        ordering = ["-at", "-id"]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"readiness at {self.at:%Y-%m-%d %H:%M}: {'green' if self.green else 'not green'}"
