from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0003_taste_scores_ask_order"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="tastetrainingrun",
            name="uniq_taste_run_queued_per_user",
        ),
        migrations.RemoveConstraint(
            model_name="tastetrainingrun",
            name="uniq_taste_run_running_per_user",
        ),
        migrations.RenameField(
            model_name="tastetrainingrun",
            old_name="status",
            new_name="state",
        ),
        migrations.AddField(
            model_name="tastetrainingrun",
            name="attempts",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text="Workers that claimed this run (capped by RUN_MAX_ATTEMPTS).",
            ),
        ),
        migrations.AddConstraint(
            model_name="tastetrainingrun",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state", "queued")),
                fields=("user",),
                name="uniq_taste_run_queued_per_user",
            ),
        ),
        migrations.AddConstraint(
            model_name="tastetrainingrun",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state", "running")),
                fields=("user",),
                name="uniq_taste_run_running_per_user",
            ),
        ),
    ]
