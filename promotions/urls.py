"""Pages of the promotions app (mounted at /promotions/)."""
from django.urls import path

from promotions import views

app_name = "promotions"
urlpatterns = [
    path("", views.pipeline, name="index"),
    path("policies/", views.policy_list, name="policies"),
    path("<id:promotion_id>/", views.promotion_detail, name="detail"),
]
