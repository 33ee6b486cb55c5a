"""REST endpoints of the autonomy app, mounted under /api/v1/."""

urlpatterns: list = []
