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
        # An LLM review names an order by client_order_id; autonomy may not import execution, so
        # execution lends it the lookup of a stored order.
        from autonomy.selectors import llm_order_lookup_register
        from execution.selectors import order_for_llm_review

        llm_order_lookup_register(order_for_llm_review)
        # The autonomous lane (autonomy) rolls a strategy back on its live evidence: the orders of its stage.
        from autonomy.lane_selectors import stage_evidence_register

        stage_evidence_register(stage_evidence)
