"""REST endpoints of the execution app, mounted under /api/v1/."""

urlpatterns: list = []
