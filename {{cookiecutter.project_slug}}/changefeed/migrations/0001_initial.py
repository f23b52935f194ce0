from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="ChangeEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "slot",
                    models.TextField(help_text="The replication slot the change was read from."),
                ),
                ("lsn", models.BigIntegerField(help_text="WAL position of the change itself.")),
                (
                    "commit_lsn",
                    models.BigIntegerField(help_text="WAL position of its transaction's commit."),
                ),
                (
                    "position",
                    models.IntegerField(help_text="Order of the change within its transaction."),
                ),
                ("xid", models.BigIntegerField(help_text="Postgres transaction id.")),
                ("commit_time", models.DateTimeField()),
                (
                    "table_name",
                    models.TextField(help_text='Qualified table name, e.g. "public.items".'),
                ),
                (
                    "operation",
                    models.TextField(
                        choices=[
                            ("insert", "Insert"),
                            ("update", "Update"),
                            ("delete", "Delete"),
                            ("truncate", "Truncate"),
                        ]
                    ),
                ),
                (
                    "primary_key",
                    models.JSONField(help_text="Primary key columns and values.", null=True),
                ),
                (
                    "old",
                    models.JSONField(
                        help_text="The row before an update or delete: key columns only, or the whole row under REPLICA IDENTITY FULL.",
                        null=True,
                    ),
                ),
                (
                    "new",
                    models.JSONField(help_text="The row after an insert or update.", null=True),
                ),
                (
                    "unchanged_toast",
                    models.JSONField(
                        default=list,
                        help_text="Columns an update left alone whose large (TOASTed) values Postgres did not send again: absent from `new`, not null.",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Checkpoint",
            fields=[
                ("slot", models.TextField(primary_key=True, serialize=False)),
                ("lsn", models.BigIntegerField()),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
    ]
