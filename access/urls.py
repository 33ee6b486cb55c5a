"""Pages of the access app, mounted under /audit/."""
from django.urls import path

from access import views

app_name = "access"

urlpatterns = [
    path("", views.audit_list, name="audit-list"),
    path("export.csv", views.audit_export, name="audit-export"),
]
