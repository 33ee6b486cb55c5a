"""Pages of the autonomy app (mounted at /autonomy/)."""
from django.urls import path

from autonomy import lane_views, views

app_name = "autonomy"
urlpatterns = [
    path("", views.index, name="index"),
    path("readiness/", views.readiness, name="readiness"),
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_action, {"action": "acknowledge"},
         name="alert-acknowledge"),
    path("alerts/<int:alert_id>/resolve/", views.alert_action, {"action": "resolve"}, name="alert-resolve"),
    # --- the autonomous lane ---
    path("lane/", lane_views.lane_index, name="lane"),
    path("lane/cycles/<int:cycle_id>/", lane_views.lane_cycle, name="lane-cycle"),
    path("lane/resume/", lane_views.lane_resume, name="lane-resume"),
    # --- LLM governance ---
    path("llm/", views.llm_governance, name="llm"),
    path("llm/stage/", views.llm_stage_change, name="llm-stage"),
    # === console: the control room's changes (POST only) ===
    path("control/trading-state/", views.trading_state_change, name="trading-state"),
    path("control/lean-lane/", views.lean_lane_change, name="lean-lane"),
    path("control/symbols/", views.symbol_change, name="symbol"),
    path("control/alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge_change,
         name="control-alert-acknowledge"),
]
