"""System checks of the autonomy settings: a sweep must not be the first to find a typo."""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

from autonomy.choices import SEVERITY_RANK
from autonomy.conditions import MarketSession


@register()
def autonomy_settings(app_configs=None, **kwargs):
    errors = []
    try:
        MarketSession.parse(settings.AUTONOMY_MARKET_SESSION)
    except ValueError as exc:
        errors.append(Error(f"AUTONOMY_MARKET_SESSION: {exc}", id="autonomy.E001"))
    if settings.ALERT_NOTIFY_MIN_SEVERITY not in SEVERITY_RANK:
        errors.append(Error(f"ALERT_NOTIFY_MIN_SEVERITY must be one of {', '.join(SEVERITY_RANK)}.",
                            id="autonomy.E002"))
    if settings.ALERT_WEBHOOK_URL and not settings.ALERT_WEBHOOK_SECRET:
        errors.append(Error("ALERT_WEBHOOK_URL is set without ALERT_WEBHOOK_SECRET: webhook payloads must be "
                            "signed.", id="autonomy.E003"))
    if settings.HEARTBEAT_RETENTION_DAYS < 1:
        errors.append(Error("HEARTBEAT_RETENTION_DAYS must be 1 or more: the playbook's signal quality reads the "
                            "last window of heartbeats, and the table refuses to lose a heartbeat younger than a day.",
                            id="autonomy.E004"))
    return errors
