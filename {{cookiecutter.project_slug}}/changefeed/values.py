"""Column values: from PostgreSQL's text output to JSON-friendly Python values, and back to JSON.

pgoutput sends each value as its type's text output. Text is decoded as UTF-8 (the client
encoding the stream asks for), and date/time values assume ``DateStyle=ISO``, the setting
PostgreSQL's own subscriber uses. The decoder applies these converters while it reads a tuple
(:func:`value_converters`), so each value is touched once.

json and jsonb values travel as the server wrote them (:class:`JsonText`): never through Python
numbers, which would refuse an integer past 64 bits and round a decimal, nor through a dict,
which would drop a `json` value's duplicate keys. :func:`dumps` embeds them as they are.
"""

import decimal
import enum
import json
import math
from collections.abc import Callable
from typing import Any, Final, TypeAlias

import orjson

JsonValue: TypeAlias = None | bool | int | float | str
#: Per column of a relation, the function turning its text into a JSON value (None: keep text).
Converters: TypeAlias = tuple[Callable[[str], JsonValue] | None, ...]


class TypeOid(enum.IntEnum):
    """The built-in types converted below, named as in ``pg_type.typname`` (and in psycopg)."""

    BOOL = 16
    INT8 = 20
    INT2 = 21
    INT4 = 23
    OID = 26
    JSON = 114
    FLOAT4 = 700
    FLOAT8 = 701
    TIMESTAMP = 1114
    TIMESTAMPTZ = 1184
    TIMETZ = 1266
    JSONB = 3802


class JsonText(str):
    """A json or jsonb value: the JSON text the server wrote, as a str.

    Serialized by :func:`dumps` as that JSON, not as a string. `parsed()` gives Python values,
    with numbers exact (int, or Decimal for a fraction or an exponent).
    """

    __slots__ = ()

    def parsed(self) -> Any:
        return json.loads(self, parse_float=decimal.Decimal)


def _json_text(text: str) -> JsonText:
    # A json value keeps its input's whitespace, line breaks and tabs included (inside strings
    # they are always escaped): a JSON line must not break, and the sinks' encodings use raw
    # line breaks and tabs as separators (changefeed.envelopes, changefeed.sinks.store), so they
    # become spaces.
    if "\n" in text or "\r" in text or "\t" in text:
        text = text.replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return JsonText(text)


def _embed(value: Any) -> orjson.Fragment:
    if type(value) is JsonText:
        return orjson.Fragment(str(value))
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """JSON of a value holding converted column values, json ones embedded as they are."""
    return orjson.dumps(value, default=_embed, option=orjson.OPT_PASSTHROUGH_SUBCLASS)


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


#: Type OID -> converter. Types missing here keep their text output, which is already the best
#: JSON form for text, varchar, bpchar and name; for numeric (exact, where a float would round);
#: for uuid (canonical lowercase); for bytea (hex '\x...'); and for date and time (ISO 8601
#: already). Date and time values stay strings rather than datetime objects: JSON has no such
#: type, and this is the consumer's hot path, where parsing and re-printing each would cost most.
#: Raises ValueError for text that PostgreSQL would never print for the type.
CONVERTERS: Final[dict[int, Callable[[str], JsonValue]]] = {
    TypeOid.BOOL: _parse_bool,
    TypeOid.INT8: int,
    TypeOid.INT2: int,
    TypeOid.INT4: int,
    TypeOid.OID: int,
    TypeOid.FLOAT4: _parse_float,
    TypeOid.FLOAT8: _parse_float,
    TypeOid.JSON: _json_text,
    TypeOid.JSONB: JsonText,
    TypeOid.TIMETZ: _with_offset_minutes,
    TypeOid.TIMESTAMP: _iso_timestamp,
    TypeOid.TIMESTAMPTZ: _iso_timestamptz,
}


def value_converters(type_oids) -> Converters:
    """Per column type OID, its converter (None: the text stays), for the decoder."""
    return tuple(CONVERTERS.get(type_oid) for type_oid in type_oids)
