# Strategy moved from the ledger app to the strategies app; same table, so state only.
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0001_initial"),
        ("strategies", "0001_initial"),
        # every other foreign key to ledger.Strategy is re-pointed before the model leaves
        ("access", "0002_strategy_in_strategies_app"),
        ("execution", "0006_strategy_in_strategies_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="researchrun",
                    name="strategy",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="runs",
                                            to="strategies.strategy"),
                ),
                migrations.DeleteModel(name="Strategy"),
            ],
            database_operations=[],
        ),
    ]
