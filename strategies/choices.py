"""Choices of the strategies app, defined once."""
from django.db import models


class Stage(models.TextChoices):
    SHADOW = "shadow", "Shadow (no orders)"
    PAPER = "paper", "Paper"
    CANARY = "canary", "Canary (capped)"
    LIVE = "live", "Live"


STAGES = tuple(Stage.values)
TARGETS = STAGES[1:]  # what a promotion can move a strategy to
STAGE_RANK = {stage: rank for rank, stage in enumerate(STAGES)}
#: Legal stage changes: one step up (a promotion), or down to any lower stage (a demotion).
STAGE_TRANSITIONS = tuple(
    [(a, b) for a, b in zip(STAGES, STAGES[1:], strict=False)]
    + [(a, b) for a in STAGES for b in STAGES if STAGE_RANK[b] < STAGE_RANK[a]])
