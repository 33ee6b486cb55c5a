"""The control version (one row, counted by a trigger on the control events) and the guard of order
admission's single-statement insert: ``autonomy_admission_guard(ok)`` raises SQLSTATE TA001 when the
controls an order was admitted on changed before it was inserted, which undoes the whole statement."""

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('autonomy', '0005_llm_governance'),
    ]

    operations = [
        migrations.RunSQL(
            sql="""
CREATE OR REPLACE FUNCTION autonomy_admission_guard(ok boolean) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION 'order admission: the controls changed after they were read'
      USING ERRCODE = 'TA001', HINT = 'admit the order again under lock';
  END IF;
  RETURN true;
END $$;
""",
            reverse_sql="DROP FUNCTION IF EXISTS autonomy_admission_guard(boolean);"),
        migrations.CreateModel(
            name='ControlVersion',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ('version', models.BigIntegerField(default=0)),
            ],
            options={
                'db_table': 'autonomy_control_version',
            },
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='controlevent',
            trigger=pgtrigger.compiler.Trigger(name='control_version_bump', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO autonomy_control_version AS v (id, version) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET version = v.version + 1; RETURN NULL;', hash='7400066c55da994788f29068a017b953044d846a', operation='INSERT', pgid='pgtrigger_control_version_bump_05e3a', table='autonomy_control_events', when='AFTER')),
        ),
        migrations.AddConstraint(
            model_name='controlversion',
            constraint=models.CheckConstraint(condition=models.Q(('id', 1)), name='control_version_singleton'),
        ),
        migrations.RunSQL(
            sql="INSERT INTO autonomy_control_version (id, version) "
                "SELECT 1, count(*) FROM autonomy_control_events ON CONFLICT (id) DO NOTHING;",
            reverse_sql=migrations.RunSQL.noop),
    ]
