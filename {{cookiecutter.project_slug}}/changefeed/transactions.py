"""From decoded pgoutput messages to whole transactions of row changes.

Pure, like the decoder: message bytes in, Transaction objects out. It keeps the one piece of state
the protocol requires, the Relation messages (the server sends a table's description once, before
its first change, and again after the table changes), and buffers a transaction's changes until
its Commit, since only a committed transaction may be stored and acknowledged. Knowing the
relations, it has the decoder convert column values while reading them, and reads row changes
(nearly every message) straight into their rows with pgoutput.read_row.
"""

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from changefeed.lsn import format_lsn
from changefeed.pgoutput import (
    UNCHANGED_TOAST,
    Begin,
    Commit,
    Message,
    Relation,
    RowChange,
    Truncate,
    decode_message,
    read_row,
)
from changefeed.values import Converters, value_converters


@dataclass(slots=True)
class Change:
    """One row change (or one table's truncation) within a transaction.

    The fields are named as ChangeEvent's, and a jsonl line's keys are these fields plus the
    transaction's."""

    lsn: int
    position: int
    table_name: str
    operation: str
    primary_key: dict | None
    old: dict | None
    new: dict | None
    unchanged_toast: list[str]


@dataclass(slots=True)
class SnapshotStep:
    """How far a table's snapshot is once a transaction's `read` changes are stored: what a sink
    records with them (see changefeed.sinks)."""

    table: str
    generation: int
    last_key: list | None
    rows: int
    done: bool


@dataclass(slots=True)
class Transaction:
    xid: int
    commit_lsn: int
    end_lsn: int
    """Just past the commit record: what to store as the checkpoint and acknowledge."""
    commit_time: datetime
    changes: list[Change] = field(default_factory=list)
    watermark: str | None = None
    """The snapshot watermark this transaction carries, if any (see changefeed.snapshot)."""
    snapshot: SnapshotStep | None = None
    """Set on a snapshot chunk's transaction, whose changes are the chunk's `read` rows."""


#: The prefix of the logical decoding messages (pg_logical_emit_message) that mark snapshot chunks.
WATERMARK_PREFIX = "changefeed.snapshot"


_ROW_CHANGES = {ord("I"): "insert", ord("U"): "update", ord("D"): "delete"}
_NEW, _KEY, _OLD = ord("N"), ord("K"), ord("O")  # what follows: a new tuple, an old key, an old row
_RELATION_OID = struct.Struct(">I").unpack_from


class ProtocolError(Exception):
    """The message sequence broke pgoutput's rules (a change outside a transaction, say)."""


def replica_identity_columns(relation: Relation) -> tuple[str, ...]:
    """The columns pgoutput marks as identifying a row (the primary key, by default)."""
    return tuple(column.name for column in relation.columns if column.is_key)


class TransactionAssembler:
    """Feed it pgoutput messages in stream order; it returns each Transaction when its Commit
    arrives.

    `key_columns` names a table's primary key columns. The default trusts pgoutput's key flags,
    which under REPLICA IDENTITY FULL mark every column; the stream passes a catalog lookup.
    """

    def __init__(
        self, key_columns: Callable[[Relation], tuple[str, ...]] = replica_identity_columns
    ):
        self._key_columns = key_columns
        self._relations: dict[int, _Table] = {}
        self._converters: dict[int, Converters] = {}  # what the decoder needs of _relations
        self._current: Transaction | None = None

    @property
    def in_transaction(self) -> bool:
        return self._current is not None

    def reset(self) -> None:
        """Forget a half-received transaction, e.g. after the connection dropped mid-way."""
        self._current = None

    def receive(self, payload: bytes, lsn: int) -> Transaction | None:
        """Take one message's bytes (an XLogData payload) and the LSN it was sent at; returns the
        transaction its Commit completes."""
        if type(payload) is not bytes:
            payload = bytes(payload)  # a memoryview from SQL, say: the hot path reads bytes
        if self._current is not None and payload:
            operation = _ROW_CHANGES.get(payload[0])
            if operation is not None and self._read_row_change(payload, lsn, operation):
                return None
        # Everything else, and any row change the hot path cannot read, which the complete
        # decoder then reads (binary values) or reports (a malformed message, at its byte).
        message = decode_message(payload, self._converters)
        if type(message) is RowChange:
            self._add(lsn, message)
            return None
        match message:
            case Begin():
                if self._current is not None:
                    raise ProtocolError(f"Begin at {format_lsn(lsn)} inside a transaction")
                self._current = Transaction(
                    xid=message.xid,
                    commit_lsn=message.final_lsn,
                    end_lsn=0,
                    commit_time=message.commit_time,
                )
            case Commit():
                transaction = self._transaction("Commit", lsn)
                transaction.end_lsn = message.end_lsn
                self._current = None
                return transaction
            case Relation():
                converters = value_converters(column.type_oid for column in message.columns)
                self._relations[message.oid] = _Table(
                    message, self._key_columns(message), converters
                )
                self._converters[message.oid] = converters
            case Truncate():
                transaction = self._transaction("Truncate", lsn)
                for oid in message.relation_oids:
                    table = self._relation(oid).name
                    position = len(transaction.changes)
                    transaction.changes.append(
                        Change(lsn, position, table, "truncate", None, None, None, [])
                    )
            case Message(transactional=True, prefix=prefix) if prefix == WATERMARK_PREFIX:
                self._transaction("Message", lsn).watermark = message.content.decode()
            # Origin, Type and other logical decoding Messages carry nothing this feed stores.
        return None

    def _transaction(self, kind: str, lsn: int) -> Transaction:
        if self._current is None:
            raise ProtocolError(f"{kind} at {format_lsn(lsn)} outside a transaction")
        return self._current

    def _relation(self, oid: int) -> "_Table":
        try:
            return self._relations[oid]
        except KeyError:
            raise ProtocolError(f"change for relation {oid} before its Relation message") from None

    def _read_row_change(self, payload: bytes, lsn: int, operation: str) -> bool:
        """The hot path: an Insert, Update or Delete read straight into its rows (read_row).
        False when it cannot be read so: the caller then decodes it completely."""
        try:
            table = self._relations[_RELATION_OID(payload, 1)[0]]
            layout = table.layout
            follows = payload[5]
            old_kind = old_row = new_row = None
            if follows == _NEW and operation != "delete":  # an insert; an update of no old values
                new_row, end = read_row(payload, 6, layout)
            elif follows in (_KEY, _OLD) and operation != "insert":
                old_kind = chr(follows)
                old_row, end = read_row(payload, 6, layout)
                if operation == "update":
                    if payload[end] != _NEW:
                        return False
                    new_row, end = read_row(payload, end + 1, layout)
            else:
                return False
            if end != len(payload):
                return False
        except Exception:  # noqa: BLE001 (decode_message reads it, or says what is wrong)
            return False
        self._append(lsn, table, operation, old_kind, old_row, new_row)
        return True

    def _add(self, lsn: int, change: RowChange) -> None:
        """A row change decode_message read (the hot path could not)."""
        operation, relation_oid, old_kind, old, new = change
        if self._current is None:
            self._transaction(operation.capitalize(), lsn)  # raises
        table = self._relation(relation_oid)
        # zip without strict=: the decoder has checked each tuple's width against the relation's.
        new_row = None if new is None else dict(zip(table.columns, new))  # noqa: B905
        old_row = None if old is None else dict(zip(table.columns, old))  # noqa: B905
        self._append(lsn, table, operation, old_kind, old_row, new_row)

    def _append(self, lsn, table: "_Table", operation, old_kind, old_row, new_row) -> None:
        unchanged = []
        # Only an update can leave a TOASTed value out.
        if operation == "update" and UNCHANGED_TOAST in new_row.values():
            unchanged = [name for name, value in new_row.items() if value is UNCHANGED_TOAST]
            for name in unchanged:
                del new_row[name]
        if old_kind == "K":
            # A key-only old tuple: the other columns are not NULL, just not sent.
            old_row = {name: old_row[name] for name in table.identity_columns}
        key_source = old_row if new_row is None else new_row
        key = table.single_key
        if key is not None:  # the usual one-column key: a literal, a fifth of the zip's cost
            primary_key = {key: key_source.get(key)}
        else:
            keys = table.key_columns
            primary_key = dict(zip(keys, map(key_source.get, keys), strict=True)) or None
        changes = self._current.changes
        changes.append(
            Change(
                lsn, len(changes), table.name, operation, primary_key, old_row, new_row, unchanged
            )
        )


class _Table:
    """A Relation message, with what turning its tuples into rows needs worked out once.

    The decoder has checked each tuple's width against the relation's, and converted its values.
    """

    __slots__ = ("name", "columns", "layout", "key_columns", "single_key", "identity_columns")

    def __init__(self, relation: Relation, key_columns: tuple[str, ...], converters: Converters):
        self.name = f"{relation.namespace or 'pg_catalog'}.{relation.name}"
        self.columns = tuple(column.name for column in relation.columns)
        self.layout = tuple(zip(self.columns, converters, strict=True))
        self.key_columns = key_columns
        self.single_key = key_columns[0] if len(key_columns) == 1 else None
        self.identity_columns = replica_identity_columns(relation)
