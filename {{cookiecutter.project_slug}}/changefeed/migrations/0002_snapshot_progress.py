from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("changefeed", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="changeevent",
            name="operation",
            field=models.TextField(
                choices=[
                    ("insert", "Insert"),
                    ("update", "Update"),
                    ("delete", "Delete"),
                    ("truncate", "Truncate"),
                    ("read", "Read"),
                ]
            ),
        ),
        migrations.CreateModel(
            name="SnapshotProgress",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("slot", models.TextField()),
                (
                    "table_name",
                    models.TextField(help_text='Qualified table name, e.g. "public.items".'),
                ),
                (
                    "generation",
                    models.IntegerField(
                        default=1,
                        help_text="Counts the requests: steps of an earlier one are not recorded.",
                    ),
                ),
                (
                    "last_key",
                    models.JSONField(
                        help_text="Primary key of the last row delivered (null: none yet).",
                        null=True,
                    ),
                ),
                ("rows", models.BigIntegerField(default=0, help_text="Rows delivered so far.")),
                ("done", models.BooleanField(default=False)),
                ("requested_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name_plural": "snapshot progress",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("slot", "table_name"), name="one_snapshot_per_table"
                    )
                ],
            },
        ),
    ]
