from django.apps import AppConfig


class AutonomyConfig(AppConfig):
    name = "autonomy"

    def ready(self) -> None:
        from autonomy import (
            checks,  # noqa: F401 - registers the system checks
            readiness,
        )
        from autonomy.selectors import readiness_control

        readiness.register("control", readiness_control)  # the scorecard's critical-flag and LEAN-circuit facts
