# Strategy moved from the ledger app to the strategies app; same table, so state only.
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0001_initial"),
        ("strategies", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="strategyuserobjectpermission",
                    name="content_object",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="strategies.strategy"),
                ),
                migrations.AlterField(
                    model_name="strategygroupobjectpermission",
                    name="content_object",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="strategies.strategy"),
                ),
            ],
            database_operations=[],
        ),
    ]
