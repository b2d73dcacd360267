from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="MigrationRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
                ("host", models.CharField(max_length=255)),
                ("ran_at", models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name="BeatTick",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("beat_host", models.CharField(max_length=255)),
                ("origin", models.CharField(max_length=255)),
                ("worker_host", models.CharField(max_length=255)),
                ("sent_at", models.DateTimeField(null=True)),
                ("ran_at", models.DateTimeField()),
            ],
            options={"ordering": ["id"]},
        ),
    ]
