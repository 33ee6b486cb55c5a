# Hash chain of the control events (core.chain): three columns the database fills on every insert, the rows
# already stored chained in id order, then the trigger; and the stored results of verify_audit. The back-fill
# SQL is frozen here (the canonical content, version 1, as core.chain defines it); it runs once, with the
# append-only trigger off for it.
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

TABLE = "autonomy_control_events"
APPEND_ONLY = "pgtrigger_append_only_60236"
BACKFILL = f"""
ALTER TABLE {TABLE} DISABLE TRIGGER {APPEND_ONLY};
DO $$
DECLARE
    r {TABLE};
    _position BIGINT := 0;
    _sha256 TEXT := '0000000000000000000000000000000000000000000000000000000000000000';
BEGIN
    FOR r IN SELECT * FROM {TABLE} ORDER BY id LOOP
        _position := _position + 1;
        r.chain_position := _position;
        r.prev_sha256 := _sha256;
        _sha256 := encode(sha256(convert_to(jsonb_build_array('autonomy_control_events', r.chain_position, r.id, r.prev_sha256, r.kind, r.scope, r.actor, r.via, r.reason, r.evidence, r.before, r.after, to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text, 'UTF8')), 'hex');
        UPDATE {TABLE} SET chain_position = r.chain_position, prev_sha256 = r.prev_sha256, row_sha256 = _sha256
         WHERE id = r.id;
    END LOOP;
END $$;
ALTER TABLE {TABLE} ENABLE TRIGGER {APPEND_ONLY};
"""  # noqa: E501


class Migration(migrations.Migration):

    dependencies = [
        ('autonomy', '0011_fill_in_one_statement'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditChainCheck',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(db_index=True, help_text='When the verification started.')),
                ('finished_at', models.DateTimeField()),
                ('ok', models.BooleanField()),
                ('rows_checked', models.BigIntegerField()),
                ('chains', models.JSONField(help_text='{table: {"rows", "head_position", "head_sha256", "ok"}}')),
                ('first_break', models.JSONField(blank=True, help_text='{"table", "position", "id", "problem", "detail"}, or null.', null=True)),
                ('created_by', models.CharField(max_length=150)),
            ],
            options={
                'db_table': 'autonomy_audit_chain_checks',
                'ordering': ['-at', '-id'],
            },
        ),
        migrations.AddField(
            model_name='controlevent',
            name='chain_position',
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='controlevent',
            name='prev_sha256',
            field=models.CharField(blank=True, editable=False, help_text='row_sha256 of the row at the previous position (set by the database).', max_length=64),
        ),
        migrations.AddField(
            model_name='controlevent',
            name='row_sha256',
            field=models.CharField(blank=True, editable=False, help_text="SHA-256 of this row's canonical content, which includes prev_sha256 (set by the database).", max_length=64),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name='controlevent',
            name='chain_position',
            field=models.BigIntegerField(blank=True, editable=False, help_text='1, 2, 3… in the order rows joined the hash chain (set by the database).', unique=True),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='controlevent',
            trigger=pgtrigger.compiler.Trigger(name='hash_chain', sql=pgtrigger.compiler.UpsertTriggerSql(declare='DECLARE _head_position BIGINT; _head_id BIGINT; _head_sha256 TEXT;', func='PERFORM pg_advisory_xact_lock(hashtextextended(\'chain:autonomy_control_events\', 0)); SELECT chain_position, id, row_sha256 INTO _head_position, _head_id, _head_sha256 FROM autonomy_control_events ORDER BY chain_position DESC LIMIT 1; IF _head_id IS NOT NULL AND (NEW.id IS NULL OR NEW.id <= _head_id) THEN NEW.id := GREATEST(nextval(pg_get_serial_sequence(\'autonomy_control_events\', \'id\')), _head_id + 1); END IF; NEW.chain_position := COALESCE(_head_position, 0) + 1; NEW.prev_sha256 := COALESCE(_head_sha256, \'0000000000000000000000000000000000000000000000000000000000000000\'); NEW.row_sha256 := encode(sha256(convert_to(jsonb_build_array(\'autonomy_control_events\', NEW.chain_position, NEW.id, NEW.prev_sha256, NEW.kind, NEW.scope, NEW.actor, NEW.via, NEW.reason, NEW.evidence, NEW.before, NEW.after, to_char(NEW.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\'))::text, \'UTF8\')), \'hex\'); RETURN NEW;', hash='a8006ffed197cd2e88d080eb964a05430738d78f', operation='INSERT', pgid='pgtrigger_hash_chain_3b586', table='autonomy_control_events', when='BEFORE')),
        ),
        migrations.AddConstraint(
            model_name='auditchaincheck',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('first_break__isnull', True), ('ok', True)), models.Q(('first_break__isnull', False), ('ok', False)), _connector='OR'), name='audit_chain_check_break_iff_not_ok'),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='auditchaincheck',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='86bbafbed21afcaef87ff2cfab44cf9ff70232b7', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_84488', table='autonomy_audit_chain_checks', when='BEFORE')),
        ),
    ]
