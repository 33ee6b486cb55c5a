from django.apps import AppConfig


class AutonomyConfig(AppConfig):
    name = "autonomy"

    def ready(self) -> None:
        from autonomy import checks  # noqa: F401 - registers the system checks
