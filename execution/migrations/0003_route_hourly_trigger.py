"""Keep execution_route_hourly equal to the hourly GROUP BY of non-legacy executions.

An AFTER row trigger adds a row's contribution on INSERT, removes it on DELETE and moves it
on an UPDATE that changes the bucket, the adapters, the reason, the fallback flag or the
legacy flag (the WHEN clause skips every other update, e.g. status and fills).
"""
from django.db import migrations

FORWARD = """
CREATE FUNCTION execution_route_hourly_add(b timestamptz, e text, a text, r text, fb boolean, n integer)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO execution_route_hourly AS h (bucket, expected_adapter, actual_adapter, reason, requests, fallbacks)
  VALUES (date_bin('1 hour', b, '2000-01-01 00:00:00+00'), coalesce(e, ''), coalesce(a, ''), r, n,
          CASE WHEN fb THEN n ELSE 0 END)
  ON CONFLICT (bucket, expected_adapter, actual_adapter, reason)
  DO UPDATE SET requests = h.requests + EXCLUDED.requests, fallbacks = h.fallbacks + EXCLUDED.fallbacks;
$$;

CREATE FUNCTION executions_route_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND NOT OLD.legacy THEN
    PERFORM execution_route_hourly_add(OLD.created_at, OLD.execution_expected_adapter, OLD.execution_actual_adapter,
                                       OLD.execution_fallback_reason, OLD.execution_fallback_count > 0, -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NOT NEW.legacy THEN
    PERFORM execution_route_hourly_add(NEW.created_at, NEW.execution_expected_adapter, NEW.execution_actual_adapter,
                                       NEW.execution_fallback_reason, NEW.execution_fallback_count > 0, 1);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER executions_route_rollup_insert_delete AFTER INSERT OR DELETE ON executions
  FOR EACH ROW EXECUTE FUNCTION executions_route_rollup();

CREATE TRIGGER executions_route_rollup_update AFTER UPDATE ON executions FOR EACH ROW
  WHEN ((NOT OLD.legacy OR NOT NEW.legacy) AND (
        OLD.legacy IS DISTINCT FROM NEW.legacy
     OR OLD.created_at IS DISTINCT FROM NEW.created_at
     OR OLD.execution_expected_adapter IS DISTINCT FROM NEW.execution_expected_adapter
     OR OLD.execution_actual_adapter IS DISTINCT FROM NEW.execution_actual_adapter
     OR OLD.execution_fallback_reason IS DISTINCT FROM NEW.execution_fallback_reason
     OR (OLD.execution_fallback_count > 0) IS DISTINCT FROM (NEW.execution_fallback_count > 0)))
  EXECUTE FUNCTION executions_route_rollup();

INSERT INTO execution_route_hourly (bucket, expected_adapter, actual_adapter, reason, requests, fallbacks)
SELECT date_bin('1 hour', created_at, '2000-01-01 00:00:00+00'), coalesce(execution_expected_adapter, ''),
       coalesce(execution_actual_adapter, ''), execution_fallback_reason, count(*),
       count(*) FILTER (WHERE execution_fallback_count > 0)
FROM executions WHERE NOT legacy GROUP BY 1, 2, 3, 4;
"""

REVERSE = """
DROP TRIGGER IF EXISTS executions_route_rollup_update ON executions;
DROP TRIGGER IF EXISTS executions_route_rollup_insert_delete ON executions;
DROP FUNCTION IF EXISTS executions_route_rollup();
DROP FUNCTION IF EXISTS execution_route_hourly_add(timestamptz, text, text, text, boolean, integer);
DELETE FROM execution_route_hourly;
"""


class Migration(migrations.Migration):
    dependencies = [("execution", "0002_route_hourly")]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
