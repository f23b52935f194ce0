"""The wire protocol of PostgreSQL's ``pgoutput`` logical replication messages (version 1).

``pgoutput`` is the output plugin behind PostgreSQL's own publications and subscriptions. It is
built into every server since PostgreSQL 10, so reading a change feed with it needs no server
extension (unlike wal2json or decoderbufs) and works on managed databases that allow logical
replication. Its wire format is specified in the PostgreSQL manual, chapter "Frontend/Backend
Protocol", section "Logical Replication Message Formats"; the names below follow that section.

The decoder is pure and stateless: :func:`decode_message` turns the payload of one message (an
``XLogData`` payload on a replication connection, or one ``data`` row of
``pg_logical_slot_get_binary_changes``) into one immutable value: a :class:`RowChange` for the
Insert, Update and Delete messages that make up nearly all of a stream, a frozen dataclass for
the others. Keeping track of relations, transactions and acknowledged LSNs is the caller's job.
Column values are the server's text output, converted while read when the caller passes
converters (see :mod:`changefeed.values`). With the ``binary`` option (PostgreSQL 14+) values come
in each type's binary send format instead, and are kept as bytes.

Only protocol version 1 is decoded. Versions 2 and 3 add streamed in-progress transactions and
two-phase commit, whose data messages carry an extra transaction id that a stateless decoder
cannot tell apart from a relation OID; their control messages are therefore refused with a
:class:`PgOutputDecodeError` rather than misread. (Asking for version 2 or 3 without
``streaming`` or ``two_phase`` gets exactly version 1's messages, which decode fine.)
"""

import enum
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, NamedTuple, TypeAlias

from changefeed.values import Converters, JsonValue

__all__ = [
    "UNCHANGED_TOAST",
    "Begin",
    "Column",
    "ColumnValue",
    "Commit",
    "Message",
    "Origin",
    "PgOutputDecodeError",
    "PgOutputMessage",
    "Relation",
    "RowChange",
    "Truncate",
    "TupleData",
    "Type",
    "UnchangedToast",
    "RowLayout",
    "decode_message",
    "read_row",
]


class PgOutputDecodeError(ValueError):
    """A pgoutput message is truncated, corrupt, or of a kind this decoder does not support."""


class UnchangedToast(enum.Enum):
    """The type of :data:`UNCHANGED_TOAST`; an enum so that it stays a singleton when pickled."""

    UNCHANGED_TOAST = "u"

    def __repr__(self) -> str:
        return "UNCHANGED_TOAST"


#: A TOASTed value that an UPDATE left alone. The server does not send it again, so the consumer
#: must keep the value it already has. Deliberately not None, which means SQL NULL.
UNCHANGED_TOAST: Final = UnchangedToast.UNCHANGED_TOAST

#: One column of a tuple: text output, raw bytes (``binary`` option only), NULL, or unchanged.
ColumnValue: TypeAlias = str | bytes | UnchangedToast | None
#: A tuple's values, in its relation's column order: as above, or converted (see ``converters``).
TupleData: TypeAlias = tuple[ColumnValue | JsonValue, ...]
#: A relation's columns in order, each as its name and its converter (None: keep the text): what
#: :func:`read_row` needs to read a tuple straight into a row.
RowLayout: TypeAlias = tuple[tuple[str, Callable[[str], JsonValue] | None], ...]


class RowChange(NamedTuple):
    """An Insert, Update or Delete message.

    ``old_kind`` is ``'K'`` when the key changed or the row was deleted (``old`` then holds the
    old key columns and None elsewhere), ``'O'`` under ``REPLICA IDENTITY FULL`` (the whole old
    row), or None when no old values were sent (an insert; an update of default identity). In an
    update's ``new``, :data:`UNCHANGED_TOAST` marks values left alone. A NamedTuple: nearly every
    message of a stream is one, and a tuple is the cheapest value to build and unpack.
    """

    operation: Literal["insert", "update", "delete"]
    relation_oid: int
    old_kind: Literal["K", "O"] | None
    old: TupleData | None
    new: TupleData | None


@dataclass(frozen=True, slots=True)
class Begin:
    """Start of a transaction; its changes follow, up to the matching :class:`Commit`."""

    final_lsn: int
    """LSN of the transaction's commit record; equals the :class:`Commit`'s ``lsn``."""
    commit_time: datetime
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    """End of a transaction."""

    flags: int
    """Unused by PostgreSQL so far: always 0."""
    lsn: int
    """LSN of the commit record."""
    end_lsn: int
    """LSN just past the commit record: the position to acknowledge once the changes are safe."""
    commit_time: datetime


@dataclass(frozen=True, slots=True)
class Origin:
    """Sent right after :class:`Begin` when the transaction was replicated from another server."""

    lsn: int
    """LSN of the commit on the origin server."""
    name: str


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a :class:`Relation`."""

    is_key: bool
    """Part of the replica identity, so present in ``'K'`` old tuples."""
    name: str
    type_oid: int
    type_modifier: int
    """``atttypmod``, such as a varchar's length limit; -1 when the type has none."""


@dataclass(frozen=True, slots=True)
class Relation:
    """Describes a table; sent before its first change and again whenever its schema changes.

    Tuples in later messages list their values in the order of ``columns``.
    """

    oid: int
    namespace: str
    """Schema name; the empty string stands for ``pg_catalog``."""
    name: str
    replica_identity: str
    """``relreplident``: ``'d'`` default (primary key), ``'n'`` nothing, ``'f'`` full, ``'i'``
    index. It decides what old values updates and deletes carry."""
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Type:
    """Names a type that is not built in (an enum, say), before the first relation using it."""

    oid: int
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Truncate:
    """One TRUNCATE statement, with every published table it emptied (cascades included)."""

    relation_oids: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True, slots=True)
class Message:
    """A ``pg_logical_emit_message()`` call; sent only with the ``messages`` option on.

    A transactional message arrives inside its transaction's Begin/Commit, once that commits;
    a non-transactional one arrives on its own, straight away, even if its transaction aborts.
    """

    transactional: bool
    lsn: int
    prefix: str
    content: bytes


PgOutputMessage: TypeAlias = (
    Begin | Commit | Origin | Relation | Type | RowChange | Truncate | Message
)


_UINT16: Final = struct.Struct(">H")
_INT32: Final = struct.Struct(">i")
_UINT32: Final = struct.Struct(">I")
_INT64: Final = struct.Struct(">q")
_UINT64: Final = struct.Struct(">Q")

# Timestamps count microseconds from the PostgreSQL epoch, not the Unix one.
_POSTGRES_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)

_NULL: Final = ord("n")
_UNCHANGED: Final = ord("u")
_TEXT: Final = ord("t")
_BINARY: Final = ord("b")
# Past this many bytes a text value is decoded from a view of the message, not from a copy.
_LARGE_VALUE: Final = 1 << 20


def _describe(tag: int) -> str:
    return f"pgoutput {_KINDS[tag].name} ({chr(tag)!r})"


class _Reader:
    """A cursor over one message.

    Every read advances ``pos`` only once it has succeeded, so after any failure ``pos`` is the
    offset of the field that could not be read; :func:`decode_message` relies on that to turn
    ``struct.error`` and ``IndexError`` into errors that name the offset.
    """

    __slots__ = ("data", "pos", "converters")

    def __init__(self, data: bytes, converters: Mapping[int, Converters] | None) -> None:
        self.data = data
        self.pos = 1  # past the message type byte
        self.converters = converters

    def truncated(self, offset: int) -> PgOutputDecodeError:
        return PgOutputDecodeError(
            f"{_describe(self.data[0])} message truncated at byte {offset} of {len(self.data)}"
        )

    def malformed(self, offset: int, problem: str) -> PgOutputDecodeError:
        return PgOutputDecodeError(
            f"{_describe(self.data[0])} message malformed at byte {offset} "
            f"of {len(self.data)}: {problem}"
        )

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uint16(self) -> int:
        value: int = _UINT16.unpack_from(self.data, self.pos)[0]
        self.pos += 2
        return value

    def int32(self) -> int:
        value: int = _INT32.unpack_from(self.data, self.pos)[0]
        self.pos += 4
        return value

    def uint32(self) -> int:
        value: int = _UINT32.unpack_from(self.data, self.pos)[0]
        self.pos += 4
        return value

    def uint64(self) -> int:
        value: int = _UINT64.unpack_from(self.data, self.pos)[0]
        self.pos += 8
        return value

    def timestamp(self) -> datetime:
        micros: int = _INT64.unpack_from(self.data, self.pos)[0]
        try:
            value = _POSTGRES_EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            raise self.malformed(self.pos, f"timestamp {micros} is out of range") from None
        self.pos += 8
        return value

    def marker(self, allowed: bytes) -> str:
        """Read one of the letters in ``allowed`` that announce what follows."""
        value = self.data[self.pos]
        if value not in allowed:
            expected = " or ".join(repr(chr(letter)) for letter in allowed)
            raise self.malformed(self.pos, f"expected {expected}, got {chr(value)!r}")
        self.pos += 1
        return chr(value)

    def string(self) -> str:
        """Read a NUL-terminated string."""
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise self.truncated(self.pos)
        value = self._utf8(self.pos, end)
        self.pos = end + 1
        return value

    def counted_bytes(self) -> bytes:
        """Read an Int32 length and that many bytes."""
        start = self.pos + 4
        end = start + _UINT32.unpack_from(self.data, self.pos)[0]
        if end > len(self.data):
            raise self.truncated(start)
        self.pos = end
        return self.data[start:end]

    def tuple_data(self, converters: Converters | None = None) -> TupleData:
        """Read a TupleData: an Int16 column count, then per column a kind letter and a value.

        With ``converters`` (one per column, None for "keep the text"), text values come out
        converted. This loop is the decoder's hot path, hence the locals instead of the methods
        above, and the conversion in the same pass.
        """
        data = self.data
        size = len(data)
        count_at = self.pos
        count: int = _UINT16.unpack_from(data, count_at)[0]
        self.pos = count_at + 2
        if converters is None:
            converters = (None,) * count
        elif len(converters) != count:
            raise self.malformed(
                count_at, f"tuple has {count} columns but its relation has {len(converters)}"
            )
        pos = self.pos
        values: list[ColumnValue | JsonValue] = []
        append = values.append
        unpack_length = _UINT32.unpack_from
        try:
            for convert in converters:
                kind = data[pos]  # IndexError past the end: truncated
                # Text has a branch of its own, tested first: it is nearly every column, and
                # sharing the length reading with binary costs 6% of decoding (measured).
                if kind == _TEXT:
                    start = pos + 5
                    end = start + unpack_length(data, pos + 1)[0]  # struct.error: truncated
                    if end > size:
                        raise self.truncated(start)
                    try:  # inline: a method call per column costs more than the decoding
                        if end - start < _LARGE_VALUE:
                            text = data[start:end].decode()
                        else:  # decoded in place: no copy of a large value's bytes first
                            text = str(memoryview(data)[start:end], "utf-8")
                        append(text if convert is None else convert(text))
                    except ValueError as error:
                        raise self.invalid_value(start, error) from None
                    pos = end
                elif kind == _NULL:
                    append(None)
                    pos += 1
                elif kind == _UNCHANGED:
                    append(UNCHANGED_TOAST)
                    pos += 1
                elif kind == _BINARY:
                    start = pos + 5
                    end = start + unpack_length(data, pos + 1)[0]
                    if end > size:
                        raise self.truncated(start)
                    append(data[start:end])
                    pos = end
                else:
                    raise self.malformed(pos, f"unknown tuple column kind {chr(kind)!r}")
        except IndexError:
            raise self.truncated(pos) from None
        except struct.error:
            raise self.truncated(pos + 1) from None
        self.pos = pos
        return tuple(values)

    def invalid_value(self, start: int, error: ValueError) -> PgOutputDecodeError:
        if isinstance(error, UnicodeDecodeError):
            return self.malformed(start + error.start, "invalid UTF-8")
        return self.malformed(start, f"column value {error}")

    def _utf8(self, start: int, end: int) -> str:
        try:
            return self.data[start:end].decode()
        except UnicodeDecodeError as error:
            raise self.invalid_value(start, error) from None


# Each decoder reads the fields in wire order, one statement each, then builds the message.


def _decode_begin(reader: _Reader) -> Begin:
    final_lsn = reader.uint64()
    commit_time = reader.timestamp()
    xid = reader.uint32()
    return Begin(final_lsn, commit_time, xid)


def _decode_commit(reader: _Reader) -> Commit:
    flags = reader.byte()
    lsn = reader.uint64()
    end_lsn = reader.uint64()
    commit_time = reader.timestamp()
    return Commit(flags, lsn, end_lsn, commit_time)


def _decode_origin(reader: _Reader) -> Origin:
    lsn = reader.uint64()
    name = reader.string()
    return Origin(lsn, name)


def _decode_column(reader: _Reader) -> Column:
    is_key = bool(reader.byte() & 1)
    name = reader.string()
    type_oid = reader.uint32()
    type_modifier = reader.int32()
    return Column(is_key, name, type_oid, type_modifier)


def _decode_relation(reader: _Reader) -> Relation:
    oid = reader.uint32()
    namespace = reader.string()
    name = reader.string()
    replica_identity = chr(reader.byte())
    count = reader.uint16()
    columns = tuple(_decode_column(reader) for _ in range(count))
    return Relation(oid, namespace, name, replica_identity, columns)


def _decode_type(reader: _Reader) -> Type:
    oid = reader.uint32()
    namespace = reader.string()
    name = reader.string()
    return Type(oid, namespace, name)


# Row changes are built with tuple.__new__: half the cost of RowChange(...), on every message.
_new_row_change = tuple.__new__


# Inserts, updates and deletes are nearly every message: their decoders read the relation OID
# without the reader's methods (a method call costs more than the read), and say where they are
# before each field, so that an error still names the field's offset.


def _decode_insert(reader: _Reader) -> RowChange:
    relation_oid: int = _UINT32.unpack_from(reader.data, 1)[0]
    reader.pos = 5
    reader.marker(b"N")
    converters = reader.converters
    new = reader.tuple_data(converters.get(relation_oid) if converters else None)
    return _new_row_change(RowChange, ("insert", relation_oid, None, None, new))


def _decode_update(reader: _Reader) -> RowChange:
    relation_oid: int = _UINT32.unpack_from(reader.data, 1)[0]
    reader.pos = 5
    converters = reader.converters
    converters = converters.get(relation_oid) if converters else None
    old_kind: str | None = reader.marker(b"KON")
    old = None
    if old_kind == "N":  # no old values: the new tuple follows at once
        old_kind = None
    else:
        old = reader.tuple_data(converters)
        reader.marker(b"N")
    new = reader.tuple_data(converters)
    return _new_row_change(RowChange, ("update", relation_oid, old_kind, old, new))


def _decode_delete(reader: _Reader) -> RowChange:
    relation_oid: int = _UINT32.unpack_from(reader.data, 1)[0]
    reader.pos = 5
    old_kind = reader.marker(b"KO")
    converters = reader.converters
    old = reader.tuple_data(converters.get(relation_oid) if converters else None)
    return _new_row_change(RowChange, ("delete", relation_oid, old_kind, old, None))


def _decode_truncate(reader: _Reader) -> Truncate:
    count = reader.uint32()
    options = reader.byte()
    # Each iteration consumes four bytes or fails, so a corrupt count cannot make this spin.
    relation_oids = tuple(reader.uint32() for _ in range(count))
    return Truncate(relation_oids, cascade=bool(options & 1), restart_identity=bool(options & 2))


def _decode_message(reader: _Reader) -> Message:
    transactional = bool(reader.byte() & 1)
    lsn = reader.uint64()
    prefix = reader.string()
    content = reader.counted_bytes()
    return Message(transactional, lsn, prefix, content)


@dataclass(frozen=True, slots=True)
class _Kind:
    """A message type: its name in the manual, and its decoder or why it is refused."""

    name: str
    decode: Callable[[_Reader], PgOutputMessage] | None = None
    refused: str | None = None


_STREAMING: Final = (
    "streamed in-progress transactions are protocol version 2+; "
    "start replication with proto_version '1' (or streaming 'off')"
)
_TWO_PHASE: Final = (
    "two-phase commit is protocol version 3+; "
    "start replication with proto_version '1' (or two_phase 'off')"
)

#: Every message type, by its first byte.
_KINDS: Final[dict[int, _Kind]] = {
    ord("B"): _Kind("Begin", _decode_begin),
    ord("C"): _Kind("Commit", _decode_commit),
    ord("O"): _Kind("Origin", _decode_origin),
    ord("R"): _Kind("Relation", _decode_relation),
    ord("Y"): _Kind("Type", _decode_type),
    ord("I"): _Kind("Insert", _decode_insert),
    ord("U"): _Kind("Update", _decode_update),
    ord("D"): _Kind("Delete", _decode_delete),
    ord("T"): _Kind("Truncate", _decode_truncate),
    ord("M"): _Kind("Message", _decode_message),
    ord("S"): _Kind("Stream Start", refused=_STREAMING),
    ord("E"): _Kind("Stream Stop", refused=_STREAMING),
    ord("c"): _Kind("Stream Commit", refused=_STREAMING),
    ord("A"): _Kind("Stream Abort", refused=_STREAMING),
    ord("b"): _Kind("Begin Prepare", refused=_TWO_PHASE),
    ord("P"): _Kind("Prepare", refused=_TWO_PHASE),
    ord("K"): _Kind("Commit Prepared", refused=_TWO_PHASE),
    ord("r"): _Kind("Rollback Prepared", refused=_TWO_PHASE),
    ord("p"): _Kind("Stream Prepare", refused=_TWO_PHASE),
}
_DECODERS: Final = {tag: kind.decode for tag, kind in _KINDS.items() if kind.decode}


def decode_message(
    data: bytes | bytearray | memoryview, converters: Mapping[int, Converters] | None = None
) -> PgOutputMessage:
    """Decode one complete pgoutput message.

    ``converters`` maps relation OIDs to :func:`changefeed.values.value_converters` of their
    Relation messages' column types. Row changes of those relations then carry converted values
    instead of text: one pass over the bytes instead of two.

    Raises :class:`PgOutputDecodeError` naming the message type and byte offset when the input
    is truncated, has bytes past the end of the message, is otherwise corrupt, or is a protocol
    version 2+ message.
    """
    if not isinstance(data, bytes):
        data = bytes(data)  # one copy here makes every slice and find below a plain bytes one
    if not data:
        raise PgOutputDecodeError("empty pgoutput message")
    decode = _DECODERS.get(data[0])
    if decode is None:
        tag = data[0]
        if tag in _KINDS:
            raise PgOutputDecodeError(
                f"unsupported {_describe(tag)} message at byte 0: {_KINDS[tag].refused}"
            )
        raise PgOutputDecodeError(f"unknown pgoutput message type {chr(tag)!r} at byte 0")
    reader = _Reader(data, converters)
    try:
        message = decode(reader)
    except (struct.error, IndexError):
        raise reader.truncated(reader.pos) from None
    extra = len(data) - reader.pos
    if extra:
        raise reader.malformed(
            reader.pos, f"{extra} unexpected {'byte' if extra == 1 else 'bytes'} after the message"
        )
    return message


def read_row(data: bytes, pos: int, layout: RowLayout) -> tuple[dict, int]:
    """Read the TupleData at ``pos`` straight into a row, a dict keyed by column name; returns it
    and the offset just past it.

    The stream's hot path (see :class:`changefeed.transactions.TransactionAssembler`): nearly
    every message is a row change, and reading its values into their row, instead of into a
    :class:`RowChange` that then becomes a row, takes a third less time. It reads text values,
    NULLs and unchanged TOASTed values only, and checks only what it must to stay in bounds: on
    anything else it raises whatever reading raised (IndexError, ValueError, ...), and the caller
    decodes the message with :func:`decode_message` instead, which reads binary values too and
    says what is wrong with a malformed message, at which byte.
    """
    size = len(data)
    if _UINT16.unpack_from(data, pos)[0] != len(layout):
        raise ValueError("the tuple's width is not its relation's")
    pos += 2
    row = {}
    unpack_length = _UINT32.unpack_from
    for name, convert in layout:
        kind = data[pos]
        if kind == _TEXT:
            start = pos + 5
            end = start + unpack_length(data, pos + 1)[0]
            if end > size:
                raise IndexError("truncated")
            if end - start < _LARGE_VALUE:
                text = data[start:end].decode()
            else:  # decoded in place: no copy of a large value's bytes first
                text = str(memoryview(data)[start:end], "utf-8")
            row[name] = text if convert is None else convert(text)
            pos = end
        elif kind == _NULL:
            row[name] = None
            pos += 1
        elif kind == _UNCHANGED:
            row[name] = UNCHANGED_TOAST
            pos += 1
        else:
            raise ValueError(f"column kind {kind}")
    return row, pos
