"""Pages of the autonomy app (mounted at /autonomy/)."""
from django.urls import path

from autonomy import views

app_name = "autonomy"
urlpatterns = [
    path("", views.index, name="index"),
    # === console: the control room's changes (POST only) ===
    path("control/trading-state/", views.trading_state_change, name="trading-state"),
    path("control/lean-lane/", views.lean_lane_change, name="lean-lane"),
    path("control/symbols/", views.symbol_change, name="symbol"),
]
