"""Pages of the autonomy app."""

urlpatterns: list = []
