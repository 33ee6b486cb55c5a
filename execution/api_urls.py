"""REST endpoints of the execution app, mounted under /api/v1/."""
from core.api import slashless
from execution import api

urlpatterns = [
    *slashless("trading/orders", api.OrderCreate.as_view(), name="api-order-create"),
    *slashless("trading/orders/<str:client_order_id>/cancel", api.OrderCancel.as_view(), name="api-order-cancel"),
    *slashless("trading/executions", api.ExecutionList.as_view(), name="api-execution-list"),
    *slashless("trading/route-stats", api.RouteStats.as_view(), name="api-route-stats"),
    *slashless("trading/lean-outages", api.LeanOutageList.as_view(), name="api-lean-outages"),
]
