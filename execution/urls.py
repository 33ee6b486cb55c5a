"""Pages of the execution app."""

urlpatterns: list = []
