"""Pages of the autonomy app (mounted at /autonomy/)."""
from django.urls import path

from autonomy import views

app_name = "autonomy"
urlpatterns = [
    path("", views.index, name="index"),
    path("readiness/", views.readiness, name="readiness"),
]
