import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('autonomy', '0006_control_version'),
    ]

    operations = [
        migrations.CreateModel(
            name='PositionReconciliation',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ('at', models.DateTimeField()),
                ('symbols', models.PositiveIntegerField(default=0)),
                ('unexplained', models.PositiveIntegerField(default=0)),
                ('changed', models.PositiveIntegerField(default=0, help_text='Symbols whose figures changed (rows written).')),
                ('actor', models.CharField(blank=True, default='', max_length=150)),
            ],
            options={
                'db_table': 'autonomy_position_reconciliation',
                'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='position_reconciliation_singleton')],
            },
        ),
        migrations.CreateModel(
            name='SymbolDrift',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('symbol', models.CharField(max_length=32, unique=True)),
                ('ours_qty', models.DecimalField(decimal_places=8, help_text="The sum of the strategies' positions.", max_digits=24)),
                ('broker_qty', models.DecimalField(decimal_places=8, help_text="The broker's figure for the symbol.", max_digits=24)),
                ('in_flight_qty', models.DecimalField(decimal_places=8, default=0, help_text='Remaining qty of orders not settled yet.', max_digits=24)),
                ('drift', models.DecimalField(decimal_places=8, default=0, help_text='Difference nobody has explained yet.', max_digits=24)),
                ('changed_at', models.DateTimeField(help_text='When a reconciliation last found these figures different.')),
            ],
            options={
                'db_table': 'autonomy_symbol_drift',
                'ordering': ['symbol'],
                'indexes': [models.Index(condition=models.Q(('drift', 0), _negated=True), fields=['symbol'], name='symbol_drift_unexplained')],
                'constraints': [models.CheckConstraint(condition=models.Q(('symbol', django.db.models.functions.text.Upper('symbol'))), name='symbol_drift_symbol_upper'), models.CheckConstraint(condition=models.Q(('in_flight_qty__gte', 0)), name='symbol_drift_in_flight_non_negative')],
            },
        ),
        # The figures the positions carried move to their symbol's row (the next reconciliation rewrites them).
        migrations.RunSQL(
            sql="""
INSERT INTO autonomy_symbol_drift (symbol, ours_qty, broker_qty, in_flight_qty, drift, changed_at)
SELECT symbol, sum(qty), max(broker_qty), 0, max(drift), max(reconciled_at)
FROM autonomy_positions WHERE reconciled_at IS NOT NULL AND broker_qty IS NOT NULL GROUP BY symbol;
INSERT INTO autonomy_position_reconciliation (id, at, symbols, unexplained, changed, actor)
SELECT 1, max(changed_at), count(*), count(*) FILTER (WHERE drift <> 0), 0, 'migration'
FROM autonomy_symbol_drift HAVING count(*) > 0;
""",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RemoveField(
            model_name='position',
            name='broker_qty',
        ),
        migrations.RemoveField(
            model_name='position',
            name='drift',
        ),
        migrations.RemoveField(
            model_name='position',
            name='reconciled_at',
        ),
    ]
