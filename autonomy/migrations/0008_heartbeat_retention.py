import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('autonomy', '0007_symbol_drift'),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name='heartbeat',
            name='append_only',
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='heartbeat',
            trigger=pgtrigger.compiler.Trigger(name='heartbeat_no_update', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update rows from % table', TG_TABLE_NAME;", hash='85cecef19ecd6bae83e0e47193880a20cc3d8768', operation='UPDATE', pgid='pgtrigger_heartbeat_no_update_99a06', table='autonomy_heartbeats', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='heartbeat',
            trigger=pgtrigger.compiler.Trigger(name='heartbeat_keep_recent', sql=pgtrigger.compiler.UpsertTriggerSql(condition="WHEN (OLD.received_at > now() - interval '1 day')", func="RAISE EXCEPTION 'pgtrigger: Cannot delete rows from % table', TG_TABLE_NAME;", hash='45c1660c5bf4fd365302436c3dbd2744cf0c1c55', operation='DELETE', pgid='pgtrigger_heartbeat_keep_recent_74a0d', table='autonomy_heartbeats', when='BEFORE')),
        ),
    ]
