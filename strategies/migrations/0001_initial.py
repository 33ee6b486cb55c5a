# The ``strategies`` table was created by ledger.0001 when Strategy lived in the ledger app;
# this migration only moves the model's state here (no database change).
from django.db import migrations, models


def move_content_type(apps, schema_editor):
    """Permissions (approve_promotions, operate_strategy) hang off the model's content type:
    relabel it so every granted object permission keeps working."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    old = ContentType.objects.filter(app_label="ledger", model="strategy").first()
    if old is None:
        return
    if ContentType.objects.filter(app_label="strategies", model="strategy").exists():
        return
    old.app_label = "strategies"
    old.save(update_fields=["app_label"])


def move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="strategies", model="strategy").update(app_label="ledger")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("ledger", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Strategy",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("name", models.CharField(max_length=100, unique=True)),
                        ("description", models.TextField(blank=True, default="")),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "verbose_name_plural": "strategies",
                        "db_table": "strategies",
                        "ordering": ["name"],
                        "permissions": [("approve_promotions", "Can approve promotions of this strategy"),
                                        ("operate_strategy", "Can operate controls of this strategy")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
