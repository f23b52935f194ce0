"""Where transactions go once they are complete.

A sink's `write(transactions)` returns only when they are safe; the stream then acknowledges
their commit LSNs to Postgres, which may recycle that WAL. `checkpoint()` says where the sink's
own records end, so a restart can skip what the sink already has.
"""

import json
import logging
import sys
from collections.abc import Callable, Sequence

from django.db import connections, transaction
from django.utils.module_loading import import_string

from changefeed.models import ChangeEvent, Checkpoint
from changefeed.transactions import Transaction

logger = logging.getLogger(__name__)

Handler = Callable[[Transaction], None]


class HandlerError(Exception):
    """The user's handler raised: the batch was rolled back and nothing acknowledged."""


def load_handler(dotted_path: str) -> Handler:
    """Import a handler, e.g. "myapp.handlers.on_transaction". Raises ImportError."""
    handler = import_string(dotted_path)
    if not callable(handler):
        raise ImportError(f"{dotted_path} is not callable")
    return handler


# One statement per batch: Postgres unpacks a JSON array into rows far faster than one INSERT (or
# ORM object) per change, and it reads the same on psycopg2 and psycopg 3.
INSERT_EVENTS = f"""
INSERT INTO {ChangeEvent._meta.db_table}
    (slot, lsn, commit_lsn, position, xid, commit_time, table_name, operation, primary_key,
     old, new, unchanged_toast)
SELECT slot, lsn, commit_lsn, position, xid, commit_time, table_name, operation, primary_key,
       old, new, unchanged_toast
FROM json_to_recordset(%s::json) AS change(
    slot text, lsn bigint, commit_lsn bigint, position integer, xid bigint,
    commit_time timestamptz, table_name text, operation text, primary_key jsonb, old jsonb,
    new jsonb, unchanged_toast jsonb)
"""


class StoreSink:
    """Stores ChangeEvents and the slot's Checkpoint in one database transaction: exactly once.

    A crash before the commit loses nothing (Postgres resends what was not acknowledged); a
    crash after it duplicates nothing (the restart skips what the checkpoint covers). A handler
    runs inside that same transaction, so its own writes are exactly-once too.
    """

    def __init__(self, slot: str, handler: Handler | None = None, database: str = "default"):
        self.slot = slot
        self.handler = handler
        self.database = database
        self.handler_name = handler and f"{handler.__module__}.{handler.__qualname__}"

    def checkpoint(self) -> int:
        stored = Checkpoint.objects.using(self.database).filter(slot=self.slot).first()
        return stored.lsn if stored else 0

    def write(self, transactions: Sequence[Transaction]) -> None:
        records = [record for tx in transactions for record in tx.change_records(self.slot)]
        with transaction.atomic(using=self.database):
            if records:
                with connections[self.database].cursor() as cursor:
                    cursor.execute(INSERT_EVENTS, [json.dumps(records, separators=(",", ":"))])
            if self.handler is not None:
                for tx in transactions:
                    self._run_handler(tx)
            Checkpoint.objects.using(self.database).bulk_create(
                [Checkpoint(slot=self.slot, lsn=transactions[-1].end_lsn)],
                update_conflicts=True,
                unique_fields=["slot"],
                update_fields=["lsn", "updated_at"],
            )

    def _run_handler(self, tx: Transaction) -> None:
        try:
            self.handler(tx)
        except Exception as error:
            logger.exception("Handler %s failed on transaction %s", self.handler_name, tx.xid)
            raise HandlerError(
                f"Handler {self.handler_name} failed, so nothing of its batch was stored: "
                f"{type(error).__name__}: {error}"
            ) from error


class JsonlSink:
    """One JSON object per change on stdout, for piping into other tools.

    At-least-once: the slot itself is the checkpoint, acknowledged once the lines are flushed,
    so a crash between the flush and the acknowledgement repeats those lines on restart.
    """

    def __init__(self, slot: str, stream=None):
        self.slot = slot
        self.stream = stream or sys.stdout

    def checkpoint(self) -> int:
        return 0  # Postgres resumes from the slot's confirmed position.

    def write(self, transactions: Sequence[Transaction]) -> None:
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        lines = [dumps(record) for tx in transactions for record in tx.change_records(self.slot)]
        if lines:
            self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()

