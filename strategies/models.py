"""Strategies: the one table every app points at, and the per-strategy object permissions.

A strategy becomes known to the plane when a research run names it
(:func:`strategies.services.strategy_register`); nothing else creates one.
"""
from __future__ import annotations

from django.db import models

#: A strategy's name, wherever one is written or asked for (artifacts, orders, grants).
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"


class Strategy(models.Model):
    """A trading strategy by name; runs, orders, promotions and object permissions point at it."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "strategies"
        ordering = ["name"]
        verbose_name_plural = "strategies"
        permissions = [
            ("approve_promotions", "Can approve promotions of this strategy"),
            ("operate_strategy", "Can operate controls of this strategy"),
        ]

    def __str__(self) -> str:
        return self.name
