"""The hourly rollup counts an order once it is routed, not while it is ``pending_submit``.

An order's row is inserted (``pending_submit``, expected = actual = the expected adapter)
and committed before the brokers are called; its real route is written afterwards. Counting
it at insert time and moving it on the outcome made ``/metrics`` counters go *down* (an order
counted under ``lean`` that then fell back to ``alpaca``, seen by a scrape in between). Now a
row contributes from the update that takes it out of ``pending_submit`` (the router's
outcome, or reconciliation for a row a crash left behind), with its final route.
The rollup is rebuilt from ``executions`` under the new rule.
"""
from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION executions_route_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND NOT OLD.legacy AND OLD.status <> 'pending_submit' THEN
    PERFORM execution_route_hourly_add(OLD.created_at, OLD.execution_expected_adapter, OLD.execution_actual_adapter,
                                       OLD.execution_fallback_reason, OLD.execution_fallback_count > 0, -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NOT NEW.legacy AND NEW.status <> 'pending_submit' THEN
    PERFORM execution_route_hourly_add(NEW.created_at, NEW.execution_expected_adapter, NEW.execution_actual_adapter,
                                       NEW.execution_fallback_reason, NEW.execution_fallback_count > 0, 1);
  END IF;
  RETURN NULL;
END $$;
"""

UPDATE_TRIGGER = """
DROP TRIGGER executions_route_rollup_update ON executions;
CREATE TRIGGER executions_route_rollup_update AFTER UPDATE ON executions FOR EACH ROW
  WHEN ((NOT OLD.legacy OR NOT NEW.legacy) AND (
        OLD.legacy IS DISTINCT FROM NEW.legacy
     OR OLD.created_at IS DISTINCT FROM NEW.created_at
     OR OLD.execution_expected_adapter IS DISTINCT FROM NEW.execution_expected_adapter
     OR OLD.execution_actual_adapter IS DISTINCT FROM NEW.execution_actual_adapter
     OR OLD.execution_fallback_reason IS DISTINCT FROM NEW.execution_fallback_reason
     OR (OLD.execution_fallback_count > 0) IS DISTINCT FROM (NEW.execution_fallback_count > 0)
     OR (OLD.status = 'pending_submit') IS DISTINCT FROM (NEW.status = 'pending_submit')))
  EXECUTE FUNCTION executions_route_rollup();
"""

REBUILD = """
DELETE FROM execution_route_hourly;
INSERT INTO execution_route_hourly (bucket, expected_adapter, actual_adapter, reason, requests, fallbacks)
SELECT date_bin('1 hour', created_at, '2000-01-01 00:00:00+00'), coalesce(execution_expected_adapter, ''),
       coalesce(execution_actual_adapter, ''), execution_fallback_reason, count(*),
       count(*) FILTER (WHERE execution_fallback_count > 0)
FROM executions WHERE NOT legacy AND status <> 'pending_submit' GROUP BY 1, 2, 3, 4;
"""

# Back to 0003's rule: every non-legacy row counts from its insert.
REVERSE = (FUNCTION.replace(" AND OLD.status <> 'pending_submit'", "").replace(" AND NEW.status <> 'pending_submit'", "")
           + UPDATE_TRIGGER.replace("\n     OR (OLD.status = 'pending_submit') IS DISTINCT FROM (NEW.status = 'pending_submit')",
                                    "")
           + REBUILD.replace(" AND status <> 'pending_submit'", ""))


class Migration(migrations.Migration):
    dependencies = [("execution", "0004_filter_indexes")]

    operations = [migrations.RunSQL(FUNCTION + UPDATE_TRIGGER + REBUILD, REVERSE)]
