from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_import_run_api_token"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="importrun",
            name="entries",
        ),
        migrations.AddField(
            model_name="importrun",
            name="upload",
            field=models.BinaryField(blank=True, editable=False, null=True),
        ),
    ]
