from django.apps import AppConfig


class AutonomyConfig(AppConfig):
    name = "autonomy"

    def ready(self) -> None:
        # Gate 3 reads the LLM review error ratio of the strategy's window (operations["llm"]).
        from autonomy.selectors import llm_gate_evidence
        from promotions import evidence

        evidence.register("llm", llm_gate_evidence)
