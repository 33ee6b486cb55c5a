# Hash chain of the audit trail (core.chain): three columns the database fills on every insert, the rows
# already stored chained in id order, then the trigger. The back-fill SQL is frozen here (the canonical
# content, version 1, as core.chain defines it); it runs once, with the append-only trigger off for it.
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

TABLE = "audit_events"
APPEND_ONLY = "pgtrigger_append_only_dc3b7"
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
        _sha256 := encode(sha256(convert_to(jsonb_build_array('audit_events', r.chain_position, r.id, r.prev_sha256, to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), r.actor, r.actor_roles, r.via, r.method, r.path, r.action, r.object_ref, r.request_id, r.outcome, r.status_code, host(r.client_ip), r.details)::text, 'UTF8')), 'hex');
        UPDATE {TABLE} SET chain_position = r.chain_position, prev_sha256 = r.prev_sha256, row_sha256 = _sha256
         WHERE id = r.id;
    END LOOP;
END $$;
ALTER TABLE {TABLE} ENABLE TRIGGER {APPEND_ONLY};
"""  # noqa: E501


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0002_strategy_in_strategies_app'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='chain_position',
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='prev_sha256',
            field=models.CharField(blank=True, editable=False, help_text='row_sha256 of the row at the previous position (set by the database).', max_length=64),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='row_sha256',
            field=models.CharField(blank=True, editable=False, help_text="SHA-256 of this row's canonical content, which includes prev_sha256 (set by the database).", max_length=64),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name='auditevent',
            name='chain_position',
            field=models.BigIntegerField(blank=True, editable=False, help_text='1, 2, 3… in the order rows joined the hash chain (set by the database).', unique=True),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='auditevent',
            trigger=pgtrigger.compiler.Trigger(name='hash_chain', sql=pgtrigger.compiler.UpsertTriggerSql(declare='DECLARE _head_position BIGINT; _head_id BIGINT; _head_sha256 TEXT;', func='PERFORM pg_advisory_xact_lock(hashtextextended(\'chain:audit_events\', 0)); SELECT chain_position, id, row_sha256 INTO _head_position, _head_id, _head_sha256 FROM audit_events ORDER BY chain_position DESC LIMIT 1; IF _head_id IS NOT NULL AND (NEW.id IS NULL OR NEW.id <= _head_id) THEN NEW.id := GREATEST(nextval(pg_get_serial_sequence(\'audit_events\', \'id\')), _head_id + 1); END IF; NEW.chain_position := COALESCE(_head_position, 0) + 1; NEW.prev_sha256 := COALESCE(_head_sha256, \'0000000000000000000000000000000000000000000000000000000000000000\'); NEW.row_sha256 := encode(sha256(convert_to(jsonb_build_array(\'audit_events\', NEW.chain_position, NEW.id, NEW.prev_sha256, to_char(NEW.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\'), NEW.actor, NEW.actor_roles, NEW.via, NEW.method, NEW.path, NEW.action, NEW.object_ref, NEW.request_id, NEW.outcome, NEW.status_code, host(NEW.client_ip), NEW.details)::text, \'UTF8\')), \'hex\'); RETURN NEW;', hash='7d023d5c1fd1e959e1e135421fb308075c28ac7a', operation='INSERT', pgid='pgtrigger_hash_chain_d119d', table='audit_events', when='BEFORE')),
        ),
    ]
