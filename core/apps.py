from django.apps import AppConfig
from django.db.backends.signals import connection_created


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from core.timestamps import lenient_timestamptz_on_connect

        connection_created.connect(lenient_timestamptz_on_connect, dispatch_uid="core.lenient_timestamptz")
