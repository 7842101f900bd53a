from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_importrun_upload"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="importrun",
            name="one_active_import_per_user",
        ),
        migrations.RenameField(
            model_name="importrun",
            old_name="status",
            new_name="state",
        ),
        migrations.AddField(
            model_name="importrun",
            name="attempts",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text="Workers that claimed this run (capped by RUN_MAX_ATTEMPTS).",
            ),
        ),
        migrations.AddConstraint(
            model_name="importrun",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state__in", ["queued", "running"])),
                fields=("user",),
                name="one_active_import_per_user",
            ),
        ),
    ]
