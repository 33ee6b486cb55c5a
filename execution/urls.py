"""Pages of the execution app (mounted at /executions/)."""
from django.urls import path

from execution import views

urlpatterns = [
    path("", views.execution_list, name="execution-list"),
    path("dashboards/", views.dashboards, name="execution-dashboards"),
    path("outages/", views.outage_list, name="execution-outages"),
    path("reconciliation/", views.reconciliation_run_list, name="execution-reconciliation-runs"),
    path("reconciliation/<int:run_id>/", views.reconciliation_run_detail, name="execution-reconciliation-run"),
]
