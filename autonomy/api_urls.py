"""REST endpoints of the autonomy app, mounted under /api/v1/."""
from autonomy import api
from core.api import slashless

urlpatterns: list = [
    # --- alerts and heartbeats (alerts worker) ---
    *slashless("alerts", api.AlertList.as_view(), name="api-alert-list"),
    *slashless("alerts/<id:alert_id>/acknowledge", api.AlertAcknowledge.as_view(), name="api-alert-acknowledge"),
    *slashless("alerts/<id:alert_id>/resolve", api.AlertResolve.as_view(), name="api-alert-resolve"),
    *slashless("autonomy/heartbeats", api.HeartbeatCreate.as_view(), name="api-heartbeats"),
]
