# Strategy moved from the ledger app to the strategies app; same table, so state only.
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("execution", "0005_rollup_counts_routed_orders"),
        ("strategies", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="execution",
                    name="strategy",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                                            related_name="executions", to="strategies.strategy"),
                ),
                migrations.AlterField(
                    model_name="tradedecision",
                    name="strategy",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                                            related_name="trade_decisions", to="strategies.strategy"),
                ),
            ],
            database_operations=[],
        ),
    ]
