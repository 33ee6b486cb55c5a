"""Pages of the execution app (mounted at /executions/)."""
from django.urls import path

from execution import views

urlpatterns = [
    path("", views.execution_list, name="execution-list"),
    path("dashboards/", views.dashboards, name="execution-dashboards"),
    path("<int:execution_id>/", views.execution_detail, name="execution-detail"),
    path("order/<path:client_order_id>/", views.execution_by_client_order_id, name="execution-by-client-order-id"),
    path("refused/", views.refusal_list, name="execution-refusals"),
    path("outages/", views.outage_list, name="execution-outages"),
    path("outages/<int:outage_id>/", views.outage_detail, name="execution-outage"),
    path("reconciliation/", views.reconciliation_run_list, name="execution-reconciliation-runs"),
    path("reconciliation/<int:run_id>/", views.reconciliation_run_detail, name="execution-reconciliation-run"),
]
