from django.apps import AppConfig


class AutonomyConfig(AppConfig):
    name = "autonomy"

    def ready(self) -> None:
        from autonomy import (
            checks,  # noqa: F401 - registers the system checks
            readiness,
        )
        from autonomy.selectors import llm_gate_evidence, readiness_audit_chain, readiness_control
        from promotions import evidence

        readiness.register("control", readiness_control)  # the scorecard's critical-flag and LEAN-circuit facts
        readiness.register("audit_chain", readiness_audit_chain)  # the newest verification of the hash chains
        # Gate 3 reads the LLM review error ratio of the strategy's window (operations["llm"]).
        evidence.register("llm", llm_gate_evidence)
