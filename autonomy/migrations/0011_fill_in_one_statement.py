"""What the order path needs to store a fill that grows a position in one statement (with the execution's
outcome): ``autonomy_price_half_even(n, d)``, the weighted average entry price n / d rounded half-even to
8 places exactly as :func:`autonomy.positions.position_after_fill` rounds it, and ``autonomy_fill_guard(ok)``,
which raises SQLSTATE TA002 (undoing the whole statement) when the fill needs the locked path instead."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION autonomy_price_half_even(n numeric, d numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT (div(n * 100000000, d)
          + CASE WHEN 2 * mod(n * 100000000, d) > d
                   OR (2 * mod(n * 100000000, d) = d AND mod(div(n * 100000000, d), 2) = 1) THEN 1 ELSE 0 END)
         * 0.00000001
$$;
CREATE OR REPLACE FUNCTION autonomy_fill_guard(ok boolean) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION 'fill: the position or a budget needs the locked path'
      USING ERRCODE = 'TA002', HINT = 'store the fill in a transaction that locks the position';
  END IF;
  RETURN true;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('autonomy', '0010_lane_cycles'),
    ]

    operations = [
        migrations.RunSQL(sql=SQL, reverse_sql="DROP FUNCTION IF EXISTS autonomy_fill_guard(boolean); "
                                               "DROP FUNCTION IF EXISTS autonomy_price_half_even(numeric, numeric);"),
    ]
