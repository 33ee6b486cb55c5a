"""Strategies: the one table every app points at, and the per-strategy object permissions.

A strategy becomes known to the plane when a research run names it
(:func:`strategies.services.strategy_register`); nothing else creates one.
"""
from __future__ import annotations

import pgtrigger
from django.db import models
from django.db.models import Q

from strategies.choices import STAGE_TRANSITIONS, Stage

#: A strategy's name, wherever one is written or asked for (artifacts, orders, grants).
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"


class Strategy(models.Model):
    """A trading strategy by name; runs, orders, promotions and object permissions point at it."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.SHADOW,
                             help_text="Changed only by a signed promotion decision (promotions app).")
    stage_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "strategies"
        ordering = ["name"]
        verbose_name_plural = "strategies"
        permissions = [
            ("approve_promotions", "Can approve promotions of this strategy"),
            ("operate_strategy", "Can operate controls of this strategy"),
        ]
        constraints = [models.CheckConstraint(condition=Q(stage__in=Stage.values), name="strategy_stage_valid")]
        triggers = [
            # one step up at a time, down to any lower stage; never a jump to canary or live
            pgtrigger.FSM(name="strategy_stage_fsm", field="stage", transitions=list(STAGE_TRANSITIONS)),
            pgtrigger.Protect(name="strategy_name_fixed", operation=pgtrigger.Update,
                              condition=pgtrigger.AnyChange("name")),
        ]

    def __str__(self) -> str:
        return self.name
