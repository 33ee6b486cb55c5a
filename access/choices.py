"""Choices of the access app. One definition feeds models, filters and forms."""
from django.db import models


class Via(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin"
    PAGE = "page", "Page"
    COMMAND = "command", "Command"
    WORKER = "worker", "Worker"


class Outcome(models.TextChoices):
    OK = "ok", "OK"
    REFUSED = "refused", "Refused"
    INVALID = "invalid", "Invalid"
    ERROR = "error", "Error"


def outcome_for_status(status_code: int) -> str:
    """The audit outcome of an HTTP status: 400 is invalid input, other 4xx a refusal."""
    if status_code >= 500:
        return Outcome.ERROR
    if status_code == 400:
        return Outcome.INVALID
    if status_code >= 400:
        return Outcome.REFUSED
    return Outcome.OK
