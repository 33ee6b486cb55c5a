"""The first screen reads every app: the fake brokers with the router pointed at them, and the shipped gate
policies with a signing key (a promotion waiting for approval), from those apps' fixtures."""
from tests.execution.conftest import fakes, routed  # noqa: F401 - fixtures
from tests.promotions.conftest import policies, signing_key  # noqa: F401 - fixtures
