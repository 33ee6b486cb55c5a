import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('autonomy', '0008_heartbeat_retention'),
    ]

    operations = [
        migrations.AddField(
            model_name='freshnessstate',
            name='recent_cycles',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.DateTimeField(), blank=True, default=list, help_text='Earlier cycles of this in-session run (and the one before), oldest first.', size=None),
        ),
        migrations.AddField(
            model_name='signalsource',
            name='expected',
            field=models.BooleanField(db_default=True, default=True, help_text='The stale-signal rule judges this source. An operator retires a source that stopped for good; its next heartbeat brings it back.'),
        ),
        migrations.AlterField(
            model_name='controlevent',
            name='kind',
            field=models.CharField(choices=[('trading_state', 'Global trading state'), ('strategy_state', 'Strategy trading state'), ('symbol_mode', 'Symbol mode and caps'), ('lean_lane', 'LEAN lane'), ('budget', 'Budget policy'), ('budget_breach', 'Budget breach'), ('llm_stage', 'LLM stage'), ('llm_allowlist', 'LLM model or prompt-version allowlist'), ('llm_circuit', 'LLM circuit'), ('playbook', 'Recovery playbook'), ('signal_source', 'Signal source expected or retired')], max_length=32),
        ),
        migrations.AlterField(
            model_name='freshnessstate',
            name='no_signal_streak',
            field=models.PositiveIntegerField(default=0, help_text='The longest of any source, last cycle.'),
        ),
    ]
