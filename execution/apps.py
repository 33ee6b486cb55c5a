from functools import partial

from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    name = "execution"

    def ready(self) -> None:
        # The promotion gates read the strategy's paper and canary orders (gate 3, the paper evidence
        # window, gate 5); promotions may not import execution, so execution supplies them.
        from execution.selectors import stage_evidence
        from promotions import evidence

        evidence.register("paper", partial(stage_evidence, stage="paper"))
        evidence.register("canary", partial(stage_evidence, stage="canary"))

        # The readiness scorecard (autonomy, which may not import execution) reads the window's fills.
        from autonomy import readiness
        from execution.selectors import readiness_fills

        readiness.register("fills", readiness_fills)
