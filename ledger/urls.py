"""Pages of the ledger app (mounted at /research/)."""
from django.urls import path

from ledger import views

app_name = "ledger"
urlpatterns = [
    path("", views.run_list, name="run-list"),
    path("compare/", views.compare, name="compare"),
    path("runs/<str:run_id>/", views.run_detail, name="run-detail"),
]
