"""Fixtures of the autonomy tests."""

# --- LLM governance ---
from tests.autonomy.llm_support import live, paper  # noqa: F401 - fixtures
from tests.promotions.conftest import signing_key  # noqa: F401 - fixture: the key stage decisions are signed with
