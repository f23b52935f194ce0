from django.db import models


class ChangeEvent(models.Model):
    """One row change read from Postgres' logical replication stream, stored exactly once.

    Rows are written in commit order, so `id` order is the order in which the changes happened.
    """

    class Operation(models.TextChoices):
        INSERT = "insert"
        UPDATE = "update"
        DELETE = "delete"
        TRUNCATE = "truncate"

    slot = models.TextField(help_text="The replication slot the change was read from.")
    lsn = models.BigIntegerField(help_text="WAL position of the change itself.")
    commit_lsn = models.BigIntegerField(help_text="WAL position of its transaction's commit.")
    position = models.IntegerField(help_text="Order of the change within its transaction.")
    xid = models.BigIntegerField(help_text="Postgres transaction id.")
    commit_time = models.DateTimeField()
    table_name = models.TextField(help_text='Qualified table name, e.g. "public.items".')
    operation = models.TextField(choices=Operation)
    primary_key = models.JSONField(null=True, help_text="Primary key columns and values.")
    old = models.JSONField(
        null=True,
        help_text="The row before an update or delete: key columns only, or the whole row "
        "under REPLICA IDENTITY FULL.",
    )
    new = models.JSONField(null=True, help_text="The row after an insert or update.")
    unchanged_toast = models.JSONField(
        default=list,
        help_text="Columns an update left alone whose large (TOASTed) values Postgres did not "
        "send again: absent from `new`, not null.",
    )

    def __str__(self):
        return f"{self.operation} {self.table_name} {self.primary_key}"


class CheckpointQuerySet(models.QuerySet):
    def lsn(self, slot: str) -> int:
        """How far the slot's changes are stored; 0 when nothing is (no commit ends at 0)."""
        return self.filter(slot=slot).values_list("lsn", flat=True).first() or 0


class Checkpoint(models.Model):
    """How far a slot's changes are stored: the end of the last stored transaction's commit.

    Written in the same database transaction as the events, so a restart resumes exactly there.
    """

    slot = models.TextField(primary_key=True)
    lsn = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = CheckpointQuerySet.as_manager()

    def __str__(self):
        return f"{self.slot} @ {self.lsn}"
