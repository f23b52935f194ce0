"""Where transactions go once they are complete.

A sink works in two steps. `encode(transactions)` turns a batch into what the sink writes; it
is CPU work and runs on the stream's thread. `write(transactions, encoded)` is I/O, on the
writer's thread, and returns only when the batch is safe; the stream then acknowledges its commit
LSNs to Postgres, which may recycle that WAL. (Split so, the writer's thread waits on I/O without
holding Python's GIL, and the stream keeps decoding meanwhile instead of taking turns with it.)
`checkpoint()` says where the sink's own records end, so a restart can skip what it already has.
"""

import io
import logging
import sys
from collections.abc import Callable, Sequence

import orjson
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


# COPY is the fastest way into a table: the database spends a third of the time it spends on
# an INSERT ... SELECT from a JSON array, and on a two-core machine the database's time is the
# consumer's time.
COPY_EVENTS = (
    f"COPY {ChangeEvent._meta.db_table} (slot, commit_lsn, xid, commit_time, lsn, position, "
    "table_name, operation, primary_key, old, new, unchanged_toast) FROM STDIN"
)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def _copy_json(value) -> str:
    # orjson escapes every control character, so only backslashes need COPY's escaping.
    return "\\N" if value is None else orjson.dumps(value).decode().replace("\\", "\\\\")


def copy_rows(cursor, statement: str, data: str) -> None:
    """COPY ... FROM STDIN through a psycopg2 or a psycopg 3 cursor (Django runs on either)."""
    if hasattr(cursor, "copy_expert"):  # psycopg2
        # In one piece: psycopg2 would read 8 kB at a time, and between pieces this thread waits
        # for the GIL while the stream's thread decodes.
        cursor.copy_expert(statement, io.StringIO(data), size=max(len(data), 1))
    else:
        with cursor.copy(statement) as copy:
            copy.write(data)


def copy_lines(slot: str, transactions: Sequence[Transaction]) -> str:
    """The batch's changes in COPY's text format, one line per ChangeEvent."""
    slot = _copy_text(slot)
    tables: dict[str, str] = {}  # escaped once per batch: few tables, many changes
    lines = []
    for tx in transactions:
        # The transaction's columns come first, so they are formatted once per transaction.
        prefix = f"{slot}\t{tx.commit_lsn}\t{tx.xid}\t{tx.commit_time.isoformat()}\t"
        for change in tx.changes:
            table = tables.get(change.table_name)
            if table is None:
                table = tables[change.table_name] = _copy_text(change.table_name)
            unchanged = _copy_json(change.unchanged_toast) if change.unchanged_toast else "[]"
            lines.append(
                f"{prefix}{change.lsn}\t{change.position}\t{table}\t{change.operation}\t"
                f"{_copy_json(change.primary_key)}\t{_copy_json(change.old)}\t"
                f"{_copy_json(change.new)}\t{unchanged}\n"
            )
    return "".join(lines)


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

    def encode(self, transactions: Sequence[Transaction]) -> str:
        return copy_lines(self.slot, transactions)

    def write(self, transactions: Sequence[Transaction], data: str) -> None:
        with transaction.atomic(using=self.database):
            if data:
                # The driver's own cursor: Django's cannot COPY, and with DEBUG on it would keep
                # every batch in connection.queries.
                with connections[self.database].connection.cursor() as cursor:
                    copy_rows(cursor, COPY_EVENTS, data)
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
        # orjson makes UTF-8 bytes: give them to the text stream's binary buffer when it has one
        # (stdout has), rather than decoding each line for the text layer to encode it again.
        self.stream.flush()
        self.buffer = getattr(self.stream, "buffer", None)

    def checkpoint(self) -> int:
        return 0  # Postgres resumes from the slot's confirmed position.

    def encode(self, transactions: Sequence[Transaction]) -> bytes:
        lines = []
        for tx in transactions:
            # orjson writes a Change (a dataclass) as an object of its fields. The transaction's
            # fields are written once and go in front of each: '{"slot":...,' + '"lsn":...}'.
            head = orjson.dumps(
                {
                    "slot": self.slot,
                    "commit_lsn": tx.commit_lsn,
                    "xid": tx.xid,
                    "commit_time": tx.commit_time.isoformat(),
                }
            )
            head = head[:-1] + b","
            lines.extend(
                head + orjson.dumps(change, option=orjson.OPT_APPEND_NEWLINE)[1:]
                for change in tx.changes
            )
        return b"".join(lines)

    def write(self, transactions: Sequence[Transaction], lines: bytes) -> None:
        if self.buffer is not None:
            self.buffer.write(lines)
            self.buffer.flush()
        else:
            self.stream.write(lines.decode())
            self.stream.flush()
