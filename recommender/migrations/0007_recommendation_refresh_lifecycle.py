import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("recommender", "0006_training_evaluation_run_lifecycle"),
    ]

    operations = [
        migrations.RenameField(
            model_name="recommendationrefresh",
            old_name="status",
            new_name="state",
        ),
        migrations.AddField(
            model_name="recommendationrefresh",
            name="attempts",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text="Workers that claimed this run (capped by RUN_MAX_ATTEMPTS).",
            ),
        ),
        migrations.AddField(
            model_name="recommendationrefresh",
            name="created_at",
            field=models.DateTimeField(auto_now_add=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
    ]
