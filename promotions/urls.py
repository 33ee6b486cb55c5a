"""Pages of the promotions app."""

urlpatterns: list = []
