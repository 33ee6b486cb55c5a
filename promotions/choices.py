"""Choices of the promotions app, defined once."""
from django.db import models


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active: signs new artifacts"
    RETIRED = "retired", "Retired: its signatures still verify"
    REVOKED = "revoked", "Revoked: its signatures no longer verify"
