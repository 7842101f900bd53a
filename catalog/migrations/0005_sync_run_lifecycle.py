import django.utils.timezone
from django.db import migrations, models


def created_from_started(apps, schema_editor):
    SyncRun = apps.get_model("catalog", "SyncRun")
    SyncRun.objects.update(created_at=models.F("started_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_merge_20261122_0244"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="syncrun",
            options={"ordering": ["-created_at", "-pk"]},
        ),
        migrations.RemoveConstraint(
            model_name="syncrun",
            name="one_running_sync_per_mode",
        ),
        migrations.AddField(
            model_name="syncrun",
            name="attempts",
            field=models.PositiveSmallIntegerField(
                default=0, help_text="Workers that claimed this run (capped by RUN_MAX_ATTEMPTS)."
            ),
        ),
        migrations.AddField(
            model_name="syncrun",
            name="created_at",
            field=models.DateTimeField(auto_now_add=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.RunPython(created_from_started, migrations.RunPython.noop),
        # Every existing row was claimed by the worker that created it: one attempt.
        migrations.RunSQL(
            "UPDATE catalog_syncrun SET attempts = 1", migrations.RunSQL.noop, elidable=True
        ),
        migrations.AlterField(
            model_name="syncrun",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="syncrun",
            name="state",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("running", "Running"),
                    ("done", "Done"),
                    ("failed", "Failed"),
                ],
                default="queued",
                max_length=10,
            ),
        ),
        migrations.AddConstraint(
            model_name="syncrun",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state__in", ("queued", "running"))),
                fields=("mode",),
                name="one_active_sync_per_mode",
            ),
        ),
    ]
