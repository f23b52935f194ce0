from django.db import models, transaction
from django.utils.timezone import now

from changefeed.transactions import SnapshotStep


class ChangeEvent(models.Model):
    """One row change read from Postgres' logical replication stream, stored exactly once.

    Rows are written in commit order, so `id` order is the order in which the changes happened.
    """

    class Operation(models.TextChoices):
        INSERT = "insert"
        UPDATE = "update"
        DELETE = "delete"
        TRUNCATE = "truncate"
        READ = "read"  # a row as a snapshot found it (Debezium's op "r")

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


class SnapshotProgressQuerySet(models.QuerySet):
    def request(self, slot: str, tables) -> None:
        """Ask for (a new) snapshot of `tables`: from the first row, under a new generation, so
        that the steps of one already under way are not recorded any more."""
        with transaction.atomic(using=self.db):
            for table in tables:
                progress, created = self.get_or_create(slot=slot, table_name=table)
                if not created:
                    progress.generation += 1
                    progress.last_key, progress.rows, progress.done = None, 0, False
                    progress.requested_at = now()
                    progress.save()

    def steps(self, slot: str) -> dict:
        """The recorded SnapshotStep of each of the slot's tables."""
        return {
            progress.table_name: SnapshotStep(
                progress.table_name,
                progress.generation,
                progress.last_key,
                progress.rows,
                progress.done,
            )
            for progress in self.filter(slot=slot)
        }

    def record(self, slot: str, steps) -> None:
        """Store how far the snapshots went (a batch's SnapshotSteps), for their generation only."""
        for step in steps:
            self.filter(slot=slot, table_name=step.table, generation=step.generation).update(
                last_key=step.last_key, rows=step.rows, done=step.done, updated_at=now()
            )


class SnapshotProgress(models.Model):
    """How far the snapshot of one table has been delivered to a slot's sink.

    `changefeed_snapshot` (or `consume_changes --snapshot`) creates it; the consumer reads the
    table in primary key order, chunk by chunk, and records the last key of each chunk with the
    chunk's rows (the store sink: in the same database transaction), so a restart resumes after it.
    """

    slot = models.TextField()
    table_name = models.TextField(help_text='Qualified table name, e.g. "public.items".')
    generation = models.IntegerField(
        default=1, help_text="Counts the requests: steps of an earlier one are not recorded."
    )
    last_key = models.JSONField(
        null=True, help_text="Primary key of the last row delivered (null: none yet)."
    )
    rows = models.BigIntegerField(default=0, help_text="Rows delivered so far.")
    done = models.BooleanField(default=False)
    requested_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SnapshotProgressQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["slot", "table_name"], name="one_snapshot_per_table")
        ]
        verbose_name_plural = "snapshot progress"

    def __str__(self):
        state = "done" if self.done else f"at {self.last_key}"
        return f"{self.slot} {self.table_name}: {self.rows} rows, {state}"
