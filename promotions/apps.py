from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "promotions"

    def ready(self) -> None:
        # The readiness scorecard (autonomy) reads the activations' signed chains and the replays.
        from autonomy import readiness
        from ledger import scoring
        from promotions.selectors import readiness_activations, readiness_replays, research_gates, research_selection

        readiness.register("activations", readiness_activations)
        readiness.register("replays", readiness_replays)
        # The research pages show the deflated Sharpe, PBO and gates as the active policy judges them.
        scoring.register(selection=research_selection, gates=research_gates)
