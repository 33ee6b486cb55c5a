"""REST endpoints of the promotions app, mounted under /api/v1/."""

urlpatterns: list = []
