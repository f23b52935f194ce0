"""Decode PostgreSQL's ``pgoutput`` logical replication messages (protocol version 1).

``pgoutput`` is the output plugin behind PostgreSQL's own publications and subscriptions. It is
built into every server since PostgreSQL 10, so reading a change feed with it needs no server
extension (unlike wal2json or decoderbufs) and works on managed databases that allow logical
replication. Its wire format is specified in the PostgreSQL manual, chapter "Frontend/Backend
Protocol", section "Logical Replication Message Formats"; the names below follow that section.

The decoder is pure and stateless: :func:`decode_message` turns the payload of one message (an
``XLogData`` payload on a replication connection, or one ``data`` row of
``pg_logical_slot_get_binary_changes``) into one frozen dataclass. Keeping track of relations,
transactions and acknowledged LSNs is the caller's job.

Column values arrive as the server's text output, so :func:`convert_value` and
:func:`row_to_dict` turn them into JSON-friendly Python values. Text is decoded as UTF-8 (the
client encoding the caller should ask for), and date/time values assume ``DateStyle=ISO``, the
setting PostgreSQL's own subscriber uses. With the ``binary`` option (PostgreSQL 14+) values come
in each type's binary send format instead, and are kept as bytes.

Only protocol version 1 is decoded. Versions 2 and 3 add streamed in-progress transactions and
two-phase commit, whose data messages carry an extra transaction id that a stateless decoder
cannot tell apart from a relation OID; their control messages are therefore refused with a
:class:`PgOutputDecodeError` rather than misread. (Asking for version 2 or 3 without
``streaming`` or ``two_phase`` gets exactly version 1's messages, which decode fine.)
"""

import enum
import json
import math
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, TypeAlias

__all__ = [
    "UNCHANGED_TOAST",
    "Begin",
    "Column",
    "ColumnValue",
    "Commit",
    "Converters",
    "Delete",
    "Insert",
    "JsonValue",
    "Message",
    "Origin",
    "PgOutputDecodeError",
    "PgOutputMessage",
    "ROW_CHANGES",
    "Relation",
    "RowChange",
    "Truncate",
    "TupleData",
    "Type",
    "UnchangedToast",
    "Update",
    "convert_value",
    "decode_message",
    "decode_row_change",
    "format_lsn",
    "parse_lsn",
    "row_to_dict",
    "value_converters",
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
TupleData: TypeAlias = tuple[ColumnValue, ...]
JsonValue: TypeAlias = None | bool | int | float | str | list[Any] | dict[str, Any]
#: An Insert, Update or Delete as :func:`decode_row_change` gives it: operation letter, relation
#: OID, old tuple kind (``'K'``, ``'O'`` or None), old tuple or None, new tuple or None.
RowChange: TypeAlias = tuple[str, int, str | None, TupleData | None, TupleData | None]
#: Per column of a relation, the function turning its text into a JSON value (None: keep text).
Converters: TypeAlias = tuple[Callable[[str], JsonValue] | None, ...]


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
class Insert:
    """A new row."""

    relation_oid: int
    new: TupleData


@dataclass(frozen=True, slots=True)
class Update:
    """A changed row. The old values come only when the replica identity asks for them.

    ``old_kind`` is ``'K'`` when the key changed (``old`` then holds the old key columns and
    None elsewhere), ``'O'`` under ``REPLICA IDENTITY FULL`` (the whole old row), or None when
    no old values were sent. In ``new``, :data:`UNCHANGED_TOAST` marks values left alone.
    """

    relation_oid: int
    old: TupleData | None
    old_kind: Literal["K", "O"] | None
    new: TupleData


@dataclass(frozen=True, slots=True)
class Delete:
    """A deleted row, identified by its old key (``'K'``) or its whole old row (``'O'``)."""

    relation_oid: int
    old: TupleData
    old_kind: Literal["K", "O"]


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
    Begin | Commit | Origin | Relation | Type | Insert | Update | Delete | Truncate | Message
)

_UINT16: Final = struct.Struct(">H")
_INT32: Final = struct.Struct(">i")
_UINT32: Final = struct.Struct(">I")
_INT64: Final = struct.Struct(">q")
_UINT64: Final = struct.Struct(">Q")

# Timestamps count microseconds from the PostgreSQL epoch, not the Unix one.
_POSTGRES_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)

_MESSAGE_NAMES: Final = {
    ord("B"): "Begin",
    ord("C"): "Commit",
    ord("O"): "Origin",
    ord("R"): "Relation",
    ord("Y"): "Type",
    ord("I"): "Insert",
    ord("U"): "Update",
    ord("D"): "Delete",
    ord("T"): "Truncate",
    ord("M"): "Message",
    ord("S"): "Stream Start",
    ord("E"): "Stream Stop",
    ord("c"): "Stream Commit",
    ord("A"): "Stream Abort",
    ord("b"): "Begin Prepare",
    ord("P"): "Prepare",
    ord("K"): "Commit Prepared",
    ord("r"): "Rollback Prepared",
    ord("p"): "Stream Prepare",
}

_STREAMING: Final = (
    "streamed in-progress transactions are protocol version 2+; "
    "start replication with proto_version '1' (or streaming 'off')"
)
_TWO_PHASE: Final = (
    "two-phase commit is protocol version 3+; "
    "start replication with proto_version '1' (or two_phase 'off')"
)
_UNSUPPORTED: Final = {
    ord("S"): _STREAMING,
    ord("E"): _STREAMING,
    ord("c"): _STREAMING,
    ord("A"): _STREAMING,
    ord("b"): _TWO_PHASE,
    ord("P"): _TWO_PHASE,
    ord("K"): _TWO_PHASE,
    ord("r"): _TWO_PHASE,
    ord("p"): _TWO_PHASE,
}

_NULL: Final = ord("n")
_UNCHANGED: Final = ord("u")
_TEXT: Final = ord("t")
_BINARY: Final = ord("b")


def _describe(tag: int) -> str:
    return f"pgoutput {_MESSAGE_NAMES[tag]} ({chr(tag)!r})"


def _describe_any(tag: int) -> str:
    return _describe(tag) if tag in _MESSAGE_NAMES else f"unknown pgoutput ({chr(tag)!r})"


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
        count = self.uint16()
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
                        text = data[start:end].decode()
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


# Python evaluates call arguments left to right, so each decoder can read its fields straight into
# the constructor as long as the arguments are listed in wire order.


def _decode_begin(reader: _Reader) -> Begin:
    return Begin(final_lsn=reader.uint64(), commit_time=reader.timestamp(), xid=reader.uint32())


def _decode_commit(reader: _Reader) -> Commit:
    return Commit(
        flags=reader.byte(),
        lsn=reader.uint64(),
        end_lsn=reader.uint64(),
        commit_time=reader.timestamp(),
    )


def _decode_origin(reader: _Reader) -> Origin:
    return Origin(lsn=reader.uint64(), name=reader.string())


def _decode_relation(reader: _Reader) -> Relation:
    oid = reader.uint32()
    namespace = reader.string()
    name = reader.string()
    replica_identity = chr(reader.byte())
    columns = tuple(
        Column(
            is_key=bool(reader.byte() & 1),
            name=reader.string(),
            type_oid=reader.uint32(),
            type_modifier=reader.int32(),
        )
        for _ in range(reader.uint16())
    )
    return Relation(oid, namespace, name, replica_identity, columns)


def _decode_type(reader: _Reader) -> Type:
    return Type(oid=reader.uint32(), namespace=reader.string(), name=reader.string())


def _read_row_change(reader: _Reader) -> RowChange:
    operation = chr(reader.data[0])
    relation_oid = reader.uint32()
    # Converted values if the caller knows the relation.
    converters = reader.converters.get(relation_oid) if reader.converters else None
    old_kind: str | None = None
    old = new = None
    if operation == "I":
        reader.marker(b"N")
        new = reader.tuple_data(converters)
    elif operation == "U":
        old_kind = reader.marker(b"KON")
        if old_kind == "N":
            old_kind = None
        else:
            old = reader.tuple_data(converters)
            reader.marker(b"N")
        new = reader.tuple_data(converters)
    else:
        old_kind = reader.marker(b"KO")
        old = reader.tuple_data(converters)
    return operation, relation_oid, old_kind, old, new


def _decode_insert(reader: _Reader) -> Insert:
    _, relation_oid, _, _, new = _read_row_change(reader)
    return Insert(relation_oid, new)


def _decode_update(reader: _Reader) -> Update:
    _, relation_oid, old_kind, old, new = _read_row_change(reader)
    return Update(relation_oid, old, old_kind, new)


def _decode_delete(reader: _Reader) -> Delete:
    _, relation_oid, old_kind, old, _ = _read_row_change(reader)
    return Delete(relation_oid, old, old_kind)


def _decode_truncate(reader: _Reader) -> Truncate:
    count = reader.uint32()
    options = reader.byte()
    # Each iteration consumes four bytes or fails, so a corrupt count cannot make this spin.
    relation_oids = tuple(reader.uint32() for _ in range(count))
    return Truncate(relation_oids, cascade=bool(options & 1), restart_identity=bool(options & 2))


def _decode_message(reader: _Reader) -> Message:
    return Message(
        transactional=bool(reader.byte() & 1),
        lsn=reader.uint64(),
        prefix=reader.string(),
        content=reader.counted_bytes(),
    )


_DECODERS: Final[dict[int, Callable[[_Reader], PgOutputMessage]]] = {
    ord("B"): _decode_begin,
    ord("C"): _decode_commit,
    ord("O"): _decode_origin,
    ord("R"): _decode_relation,
    ord("Y"): _decode_type,
    ord("I"): _decode_insert,
    ord("U"): _decode_update,
    ord("D"): _decode_delete,
    ord("T"): _decode_truncate,
    ord("M"): _decode_message,
}


def decode_message(
    data: bytes | bytearray | memoryview, converters: Mapping[int, Converters] | None = None
) -> PgOutputMessage:
    """Decode one complete pgoutput message.

    ``converters`` maps relation OIDs to :func:`value_converters` of their Relation messages.
    Insert, Update and Delete messages of those relations then carry converted values (as
    :func:`row_to_dict` would give them) instead of text: one pass over the bytes instead of two.

    Raises :class:`PgOutputDecodeError` naming the message type and byte offset when the input
    is truncated, has bytes past the end of the message, is otherwise corrupt, or is a protocol
    version 2+ message.
    """
    data = _whole(data)
    decoder = _DECODERS.get(data[0])
    if decoder is None:
        tag = data[0]
        if tag in _UNSUPPORTED:
            raise PgOutputDecodeError(
                f"unsupported {_describe(tag)} message at byte 0: {_UNSUPPORTED[tag]}"
            )
        raise PgOutputDecodeError(f"unknown pgoutput message type {chr(tag)!r} at byte 0")
    return _read_all(_Reader(data, converters), decoder)


#: The message types :func:`decode_row_change` takes, as their first byte: Insert, Update, Delete.
ROW_CHANGES: Final = frozenset(b"IUD")


def decode_row_change(
    data: bytes | bytearray | memoryview, converters: Mapping[int, Converters] | None = None
) -> RowChange:
    """Decode an Insert, Update or Delete message to a plain tuple of its fields.

    The same as :func:`decode_message` gives, as ``(operation, relation_oid, old_kind, old,
    new)`` with ``operation`` ``'I'``, ``'U'`` or ``'D'``, but without building a message object:
    for loops over whole streams, which are nearly all row changes. Other messages are refused
    with a :class:`PgOutputDecodeError`; check the first byte against :data:`ROW_CHANGES`.
    """
    data = _whole(data)
    if data[0] not in ROW_CHANGES:
        raise PgOutputDecodeError(f"{_describe_any(data[0])} message is not a row change")
    return _read_all(_Reader(data, converters), _read_row_change)


def _whole(data: bytes | bytearray | memoryview) -> bytes:
    if not isinstance(data, bytes):
        data = bytes(data)  # one copy here makes every slice and find below a plain bytes one
    if not data:
        raise PgOutputDecodeError("empty pgoutput message")
    return data


def _read_all(reader: _Reader, read: Callable[[_Reader], Any]) -> Any:
    """Read one message with ``read``, which must consume it all."""
    try:
        message = read(reader)
    except (struct.error, IndexError):
        raise reader.truncated(reader.pos) from None
    extra = len(reader.data) - reader.pos
    if extra:
        raise reader.malformed(
            reader.pos, f"{extra} unexpected {'byte' if extra == 1 else 'bytes'} after the message"
        )
    return message


def _parse_bool(text: str) -> bool:
    if text == "t":
        return True
    if text == "f":
        return False
    raise ValueError(f"invalid boolean output {text!r}")


def _parse_float(text: str) -> float | str:
    value = float(text)
    # JSON has no NaN or Infinity: keep PostgreSQL's spelling of those, as for numeric.
    return value if math.isfinite(value) else text


def _iso_timestamp(text: str) -> str:
    # PostgreSQL's ISO DateStyle prints ISO 8601 but for a space between date and time. Values
    # with no ISO 8601 form (infinity, BC, years past 9999) keep PostgreSQL's spelling.
    if text[-1].isdigit() and text[4:5] == "-":
        return text.replace(" ", "T", 1)
    return text


def _with_offset_minutes(text: str) -> str:
    # PostgreSQL shortens a whole-hour offset to "+02"; ISO 8601 readers want "+02:00".
    return text + ":00" if text[-3] in "+-" else text


def _iso_timestamptz(text: str) -> str:
    # Both steps above, inline: timestamps are in nearly every row.
    if text[-1].isdigit() and text[4:5] == "-":
        text = text.replace(" ", "T", 1)
        return text + ":00" if text[-3] in "+-" else text
    return text


# Types missing here keep their text output, which is already the best JSON form for text,
# varchar, bpchar and name; for numeric (exact, where a float would round); for uuid
# (canonical lowercase); for bytea (hex '\x...'); and for date and time (ISO 8601 already).
# Date and time values stay strings rather than datetime objects: JSON has no such type, and
# this is the consumer's hot path, where parsing and re-printing each one would cost the most.
_CONVERTERS: Final[dict[int, Callable[[str], JsonValue]]] = {
    16: _parse_bool,  # bool
    20: int,  # int8
    21: int,  # int2
    23: int,  # int4
    26: int,  # oid
    700: _parse_float,  # float4
    701: _parse_float,  # float8
    114: json.loads,  # json
    3802: json.loads,  # jsonb
    1266: _with_offset_minutes,  # timetz
    1114: _iso_timestamp,  # timestamp
    1184: _iso_timestamptz,  # timestamptz
}


def convert_value(type_oid: int, text: str) -> JsonValue:
    """Turn one column's text output into a JSON-friendly value, going by its type's OID.

    Date and time values come out as ISO 8601 strings, so that
    ``'2024-01-02 03:04:05.123+00'`` becomes ``'2024-01-02T03:04:05.123+00:00'``. Types
    without a conversion below keep their text. Raises ValueError for text that PostgreSQL
    would never print for the type.
    """
    convert = _CONVERTERS.get(type_oid)
    return text if convert is None else convert(text)


def value_converters(relation: Relation) -> Converters:
    """Per column, what :func:`convert_value` applies (None: the text stays); for
    :func:`decode_message`'s ``converters``."""
    return tuple(_CONVERTERS.get(column.type_oid) for column in relation.columns)


def row_to_dict(
    relation: Relation, values: Sequence[ColumnValue]
) -> dict[str, JsonValue | bytes | UnchangedToast]:
    """Map a tuple's values to column names, converting text with :func:`convert_value`.

    None (NULL), binary values and :data:`UNCHANGED_TOAST` pass through as they are.
    """
    columns = relation.columns
    if len(values) != len(columns):
        raise ValueError(
            f"relation {relation.name!r} has {len(columns)} columns but the tuple has "
            f"{len(values)} values"
        )
    return {
        column.name: convert_value(column.type_oid, value) if isinstance(value, str) else value
        for column, value in zip(columns, values, strict=True)
    }


_LSN: Final = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


def format_lsn(lsn: int) -> str:
    """Spell an LSN the way PostgreSQL does: two hexadecimal 32-bit halves, ``'16/B374D848'``."""
    if not 0 <= lsn < 1 << 64:
        raise ValueError(f"LSN {lsn} is not an unsigned 64-bit integer")
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """Read an LSN spelled ``'X/Y'``, as in ``pg_current_wal_lsn()`` output."""
    match = _LSN.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid LSN {text!r}: expected two hexadecimal numbers as 'X/Y'")
    return int(match[1], 16) << 32 | int(match[2], 16)
