from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "promotions"

    def ready(self) -> None:
        # The readiness scorecard (autonomy) reads the activations' signed chains and the replays.
        from autonomy import readiness
        from promotions.selectors import readiness_activations, readiness_replays

        readiness.register("activations", readiness_activations)
        readiness.register("replays", readiness_replays)
