"""The application roles of the agent contract. One definition, used everywhere."""
from django.db import models


class Role(models.TextChoices):
    RESEARCHER = "researcher", "Researcher"
    OPERATOR = "operator", "Operator"
    APPROVER = "approver", "Approver"
    AUDITOR = "auditor", "Auditor"
    AGENT = "agent", "Agent"


ALL_ROLES = frozenset(Role.values)
