"""Fixtures of the autonomy tests."""

# --- LLM governance ---
from tests.autonomy.llm_support import live, llm_signing_key, paper  # noqa: F401 - fixtures
