"""The hourly route roll-up's add, in PL/pgSQL.

Every routed order's outcome runs ``execution_route_hourly_add`` from the roll-up trigger. As a SQL
function (0003) PostgreSQL before 18 parsed and planned its INSERT on every call (~0.2 ms of the order's
outcome write, inside the transaction that holds the order's position and budget rows); PL/pgSQL keeps
the plan for the session. Same signature, same statement.
"""
from django.db import migrations

BODY = """
  INSERT INTO execution_route_hourly AS h (bucket, expected_adapter, actual_adapter, reason, requests, fallbacks)
  VALUES (date_bin('1 hour', b, '2000-01-01 00:00:00+00'), coalesce(e, ''), coalesce(a, ''), r, n,
          CASE WHEN fb THEN n ELSE 0 END)
  ON CONFLICT (bucket, expected_adapter, actual_adapter, reason)
  DO UPDATE SET requests = h.requests + EXCLUDED.requests, fallbacks = h.fallbacks + EXCLUDED.fallbacks;
"""

FORWARD = f"""
CREATE OR REPLACE FUNCTION execution_route_hourly_add(b timestamptz, e text, a text, r text, fb boolean, n integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
{BODY}
END $$;
"""

REVERSE = f"""
DROP FUNCTION execution_route_hourly_add(timestamptz, text, text, text, boolean, integer);
CREATE FUNCTION execution_route_hourly_add(b timestamptz, e text, a text, r text, fb boolean, n integer)
RETURNS void LANGUAGE sql AS $$
{BODY}
$$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("execution", "0008_reconciliation_run_interrupted"),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
