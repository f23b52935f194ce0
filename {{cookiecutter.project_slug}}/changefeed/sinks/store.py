"""The store sink: ChangeEvents and the slot's Checkpoint, exactly once, written with COPY."""

import io
import logging
from collections.abc import Sequence
from itertools import chain, repeat

import orjson
import psycopg2
from django.db import connections, transaction
from django.db import utils as django_errors

from changefeed.handlers import Handler, HandlerError, handler_name
from changefeed.lsn import format_lsn
from changefeed.models import ChangeEvent, Checkpoint, SnapshotProgress
from changefeed.replication import ChangeFeedError
from changefeed.transactions import SnapshotStep, Transaction
from changefeed.values import JsonText

try:  # psycopg 3, which Django uses instead of psycopg2 where it is installed (the tests)
    import psycopg
except ImportError:  # pragma: no cover (the deployed app has psycopg2 only)
    psycopg = None

logger = logging.getLogger(__name__)


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


#: A json value jsonb cannot hold (it has the NUL character, \u0000, which json allows): stored
#: losslessly as {JSON_TEXT: "<the JSON text>"} instead of as JSON.
JSON_TEXT = "changefeed.json_text"
# Errors that the same batch would raise again, however often it is retried: bad data, not a
# lost connection (which the stream retries).
DETERMINISTIC_ERRORS = tuple(
    error
    for module in (psycopg2, psycopg, django_errors)
    if module is not None
    for error in (module.DataError, module.IntegrityError, module.ProgrammingError)
)


def _embed_for_jsonb(value):
    if type(value) is JsonText:
        if "\\u0000" in value:
            return {JSON_TEXT: str(value)}
        return orjson.Fragment(str(value))
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def copy_rows(cursor, statement: str, data: bytes) -> None:
    """COPY ... FROM STDIN through a psycopg2 or a psycopg 3 cursor (Django runs on either)."""
    if hasattr(cursor, "copy_expert"):  # psycopg2
        # In one piece: psycopg2 would read 8 kB at a time, and between pieces this thread waits
        # for the GIL while the stream's thread decodes. Bytes, not text: a StringIO would hold
        # four bytes per character, and its whole read shares the buffer instead of copying it.
        cursor.copy_expert(statement, io.BytesIO(data), size=max(len(data), 1))
    else:
        with cursor.copy(statement) as copy:
            copy.write(data)


# Raw control characters, which orjson never writes (it escapes them inside strings; json values
# have their tabs and line breaks replaced, changefeed.values, and no PostgreSQL text holds a NUL):
# in the JSON of a whole batch, written in one orjson call, they mark COPY's column and line
# separators and NULLs, found without parsing.
_COLUMN = orjson.Fragment(b"\t")
_LINE = orjson.Fragment(b"\n")
_NULL = orjson.Fragment(b"\x00")


def copy_lines(slot: str, transactions: Sequence[Transaction]) -> bytes:
    """The batch's changes in COPY's text format, one line per ChangeEvent, UTF-8 encoded."""
    slot_text = _copy_text(slot).encode()
    tables: dict[str, bytes] = {}  # escaped once per batch: few tables, many changes
    heads = []  # each line's columns up to its first JSON one
    json_columns = []
    for tx in transactions:
        # The transaction's columns come first, so they are formatted once per transaction.
        prefix = b"%b\t%d\t%d\t%b\t" % (
            slot_text,
            tx.commit_lsn,
            tx.xid,
            tx.commit_time.isoformat().encode(),
        )
        for change in tx.changes:
            table = tables.get(change.table_name)
            if table is None:
                table = tables[change.table_name] = _copy_text(change.table_name).encode()
            heads.append(
                b"%b%d\t%d\t%b\t%b\t"
                % (prefix, change.lsn, change.position, table, change.operation.encode())
            )
            key, old, new = change.primary_key, change.old, change.new
            json_columns += (
                _NULL if key is None else key,
                _COLUMN,
                _NULL if old is None else old,
                _COLUMN,
                _NULL if new is None else new,
                _COLUMN,
                change.unchanged_toast,
                _LINE,
            )
    if not heads:
        return b""
    json_columns.pop()  # no line separator after the last
    data = orjson.dumps(
        json_columns, default=_embed_for_jsonb, option=orjson.OPT_PASSTHROUGH_SUBCLASS
    )
    # '[k,\t,o,\t,n,\t,u,\n,k,...]': JSON's backslashes are the only ones, and COPY doubles them.
    # One statement each: a large value is held twice at most, not three times.
    data = data.replace(b"\\", b"\\\\")
    data = data.replace(b",\t,", b"\t")
    data = data.replace(b"\x00", b"\\N")
    lines = data[1:-1].split(b",\n,")
    del data  # a large value: held as the lines only from here
    if len(lines) != len(heads):
        raise AssertionError(f"{len(lines)} lines of JSON columns for {len(heads)} changes")
    return b"".join(chain.from_iterable(zip(heads, lines, repeat(b"\n"))))


class StoreSink:
    """Stores ChangeEvents and the slot's Checkpoint in one database transaction: exactly once.

    Snapshot chunks' progress (SnapshotProgress) is written in that transaction too. A crash
    before the commit loses nothing (Postgres resends what was not acknowledged); a
    crash after it duplicates nothing (the restart skips what the checkpoint covers). The
    handlers run inside that same transaction, in order, so their own writes are exactly-once
    too, and one that raises rolls back the whole batch.
    """

    def __init__(self, slot: str, handlers: Sequence[Handler] = (), database: str = "default"):
        self.slot = slot
        self.handlers = tuple(handlers)
        self.database = database

    def checkpoint(self) -> int:
        return Checkpoint.objects.using(self.database).lsn(self.slot)

    def snapshot_steps(self) -> dict[str, SnapshotStep]:
        return SnapshotProgress.objects.using(self.database).steps(self.slot)

    def encode(self, transactions: Sequence[Transaction]) -> bytes:
        return copy_lines(self.slot, transactions)

    def write(self, transactions: Sequence[Transaction], data: bytes) -> None:
        try:
            self._write(transactions, data)
        except DETERMINISTIC_ERRORS as error:
            reason = str(error).strip().splitlines()[0]
            tables = sorted({change.table_name for tx in transactions for change in tx.changes})
            raise ChangeFeedError(
                f"Postgres refused to store the changes of {', '.join(tables) or 'a snapshot'} "
                f"committed at {format_lsn(transactions[0].commit_lsn)} to "
                f"{format_lsn(transactions[-1].commit_lsn)} ({reason}), and would again: nothing "
                "of them was acknowledged. Consume them with --sink jsonl or redis, which carry "
                "any value, or leave the table out of CHANGEFEED_TABLES."
            ) from None

    def _write(self, transactions: Sequence[Transaction], data: bytes) -> None:
        with transaction.atomic(using=self.database):
            if data:
                # The driver's own cursor: Django's cannot COPY, and with DEBUG on it would keep
                # every batch in connection.queries.
                with connections[self.database].connection.cursor() as cursor:
                    copy_rows(cursor, COPY_EVENTS, data)
            for tx in transactions:
                for handler in self.handlers:
                    self._run_handler(handler, tx)
            steps = [tx.snapshot for tx in transactions if tx.snapshot is not None]
            if steps:  # a snapshot's progress, with the rows it read
                SnapshotProgress.objects.using(self.database).record(self.slot, steps)
            Checkpoint.objects.using(self.database).bulk_create(
                [Checkpoint(slot=self.slot, lsn=transactions[-1].end_lsn)],
                update_conflicts=True,
                unique_fields=["slot"],
                update_fields=["lsn", "updated_at"],
            )

    def _run_handler(self, handler: Handler, tx: Transaction) -> None:
        try:
            handler(tx)
        except Exception as error:
            name = handler_name(handler)
            logger.exception("Handler %s failed on transaction %s", name, tx.xid)
            raise HandlerError(
                f"Handler {name} failed, so nothing of its batch was stored: "
                f"{type(error).__name__}: {error}"
            ) from error
