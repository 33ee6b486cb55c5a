"""REST endpoints of the autonomy app, mounted under /api/v1/."""
from autonomy import api
from core.api import slashless

urlpatterns = [
    # === core: control state, budgets, positions (issue 10) ===
    *slashless("autonomy/status", api.Status.as_view(), name="api-autonomy-status"),
    *slashless("autonomy/trading-state", api.TradingStateSet.as_view(), name="api-autonomy-trading-state"),
    *slashless("autonomy/symbols/<str:symbol>", api.SymbolSet.as_view(), name="api-autonomy-symbol"),
    *slashless("autonomy/budgets/<str:name>", api.BudgetSet.as_view(), name="api-autonomy-budget"),
    *slashless("trading/positions", api.PositionList.as_view(), name="api-positions"),
    # === alerts worker: alerts and heartbeats ===
    *slashless("alerts", api.AlertList.as_view(), name="api-alert-list"),
    *slashless("alerts/<id:alert_id>/acknowledge", api.AlertAcknowledge.as_view(), name="api-alert-acknowledge"),
    *slashless("alerts/<id:alert_id>/resolve", api.AlertResolve.as_view(), name="api-alert-resolve"),
    *slashless("autonomy/heartbeats", api.HeartbeatCreate.as_view(), name="api-heartbeats"),
]
