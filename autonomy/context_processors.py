"""Template context shared by every page: the banner of open (unacknowledged) critical alerts."""
from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from autonomy import selectors


def critical_alerts(request) -> dict:
    """``critical_alerts``: open critical alerts (an acknowledged one leaves the banner), for signed-in users
    only. Lazy: a page that does not render the banner does not query."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"critical_alerts": []}
    return {"critical_alerts": SimpleLazyObject(selectors.critical_alerts_open)}
