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


# --- Alerts, deliveries, conditions (alerts worker) -------------------------------------------

class AlertSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


# open -> acknowledged -> resolved, or open -> resolved; a resolved alert never changes again.
ALERT_TRANSITIONS = [(AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED), (AlertStatus.OPEN, AlertStatus.RESOLVED),
                     (AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED)]


class AlertEvent(models.TextChoices):
    """Why a notification is sent: an alert opened, its severity rose, or it was resolved."""

    OPENED = "opened", "Opened"
    ESCALATED = "escalated", "Escalated"
    RESOLVED = "resolved", "Resolved"


class DeliveryChannel(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    EMAIL = "email", "Email"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (attempts exhausted)"


# delivered is final: a notification the receiver took (2xx) is never sent again. A failed one may
# be queued again by an operator (admin action).
DELIVERY_TRANSITIONS = [(DeliveryStatus.PENDING, DeliveryStatus.DELIVERED),
                        (DeliveryStatus.PENDING, DeliveryStatus.FAILED),
                        (DeliveryStatus.FAILED, DeliveryStatus.PENDING)]


class HeartbeatStatus(models.TextChoices):
    OK = "ok", "OK"
    FAILED = "failed", "Failed"


class ConditionKind(models.TextChoices):
    """Kill-switch and circuit conditions whose every evaluation is stored with its inputs."""

    STALE_SIGNALS = "stale_signals", "Stale signals"
    FAILURE_STREAK = "failure_streak", "Autonomy failure streak"
    LEAN_CIRCUIT = "lean_circuit", "LEAN circuit"
    LEAN_RECOVERY = "lean_recovery", "LEAN recovery probes"
    PLAYBOOK = "playbook", "Recovery playbook"
    POSITION_DRIFT = "position_drift", "Position drift"


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
