from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator console's first screen: reads every app's selectors, owns no table."""

    name = "console"
