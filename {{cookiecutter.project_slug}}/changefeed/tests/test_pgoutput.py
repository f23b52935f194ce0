"""Tests for changefeed.pgoutput, .values and .lsn, mostly on bytes captured from a real server.

pgoutput_capture.json is written by capture_pgoutput.py; the expected values below restate the
workload in that script. Commit times, LSNs and xids change with every capture, so those are
checked against each other and against the ``lsn`` and ``xid`` columns the slot returned.
"""

import copy
import dataclasses
import json
import re
import struct
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from changefeed.lsn import format_lsn, parse_lsn
from changefeed.pgoutput import (
    UNCHANGED_TOAST,
    Begin,
    Column,
    Commit,
    Message,
    Origin,
    PgOutputDecodeError,
    PgOutputMessage,
    Relation,
    RowChange,
    Truncate,
    Type,
    decode_message,
)
from changefeed.values import CONVERTERS, JsonText, TypeOid, value_converters

CAPTURE = json.loads(Path(__file__).with_name("pgoutput_capture.json").read_text())
TEXT = [bytes.fromhex(row["data"]) for row in CAPTURE["text"]]
BINARY = [bytes.fromhex(row["data"]) for row in CAPTURE["binary"]]

ACCOUNT_A = "6f1d2c3b-4a59-4e8d-9c7b-0a1b2c3d4e5f"
ACCOUNT_B = "11111111-2222-4333-8444-555555555555"
ACCOUNT_B_RENAMED = "99999999-8888-4777-8666-555555555555"
ACCOUNT_C = "c0ffee00-0000-4000-8000-000000000001"
NAMESPACE = "pgoutput_capture"
PROFILE = {"plan": "pro", "tags": ["a", "b"], "limits": None}

LETTERS = {
    Begin: "B",
    Commit: "C",
    Origin: "O",
    Relation: "R",
    Type: "Y",
    Truncate: "T",
    Message: "M",
}
OPERATION_LETTERS = {"insert": "I", "update": "U", "delete": "D"}


def letter(message: PgOutputMessage) -> str:
    if isinstance(message, RowChange):
        return OPERATION_LETTERS[message.operation]
    return LETTERS[type(message)]


def convert_value(type_oid: int, text: str):
    """One value as the decoder converts it when given its relation's converters."""
    convert = CONVERTERS.get(type_oid)
    return text if convert is None else convert(text)


def row_to_dict(relation: Relation, values):
    """A tuple decoded without converters, converted afterwards and keyed by column name."""
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


def converters_of(relation: Relation):
    return value_converters(column.type_oid for column in relation.columns)


def insert(relation_oid, new):
    return RowChange("insert", relation_oid, None, None, new)


def group_transactions(messages: list[PgOutputMessage]) -> list[list[PgOutputMessage]]:
    """Split a stream into Begin..Commit groups; a message outside them is a group of its own."""
    groups: list[list[PgOutputMessage]] = []
    current: list[PgOutputMessage] | None = None
    for message in messages:
        if isinstance(message, Begin):
            current = [message]
        elif current is None:
            groups.append([message])
        else:
            current.append(message)
            if isinstance(message, Commit):
                groups.append(current)
                current = None
    assert current is None, "the capture ends inside a transaction"
    return groups


def is_biography(value: object) -> bool:
    return isinstance(value, str) and len(value) == 10_000 and value.isascii() and value.isalnum()


@pytest.fixture(scope="module")
def messages() -> list[PgOutputMessage]:
    return [decode_message(payload) for payload in TEXT]


@pytest.fixture(scope="module")
def transactions(messages: list[PgOutputMessage]) -> list[list[PgOutputMessage]]:
    return group_transactions(messages)


@pytest.fixture(scope="module")
def account(messages: list[PgOutputMessage]) -> Relation:
    return next(m for m in messages if isinstance(m, Relation) and m.name == "account")


@pytest.fixture(scope="module")
def ledger(messages: list[PgOutputMessage]) -> Relation:
    return next(m for m in messages if isinstance(m, Relation) and m.name == "ledger")


# --- The captured stream, message by message --------------------------------------------------


def test_each_payload_decodes_to_the_class_its_first_byte_names():
    for payload in TEXT + BINARY:
        assert letter(decode_message(payload)) == chr(payload[0])


def test_the_workload_arrives_one_transaction_at_a_time_in_order(transactions):
    assert ["".join(letter(message) for message in group) for group in transactions] == [
        "BYRIIRIIRIMC",  # several statements, ending with a transactional message
        "M",  # a non-transactional message, outside any transaction
        "BUC",  # an update leaving the TOASTed column alone
        "BUC",  # an update of the primary key
        "BUDC",  # an update and a delete under REPLICA IDENTITY FULL
        "BDC",  # a delete by primary key
        "BOIC",  # a transaction replayed from another server
        "BRRTC",  # TRUNCATE ... RESTART IDENTITY CASCADE; TRUNCATE made Relations resend
        "BYRTC",  # a plain TRUNCATE
    ]


def test_begin_and_commit_agree_and_lsns_only_grow(transactions):
    committed = [group for group in transactions if isinstance(group[0], Begin)]
    for begin, *_, commit in committed:
        assert begin.final_lsn == commit.lsn
        assert commit.end_lsn > commit.lsn
        assert begin.commit_time == commit.commit_time
        assert begin.commit_time.tzinfo is UTC
        assert commit.flags == 0
    end_lsns = [group[-1].end_lsn for group in committed]
    assert end_lsns == sorted(end_lsns)
    assert len(set(end_lsns)) == len(end_lsns)


def test_every_message_of_a_transaction_carries_its_xid(messages):
    xid = 0  # the non-transactional message came from a transaction that never got an xid
    xids = []
    for row, message in zip(CAPTURE["text"], messages, strict=True):
        if isinstance(message, Begin):
            xid = message.xid
            xids.append(xid)
        assert row["xid"] == xid
        if isinstance(message, Commit):
            xid = 0
    assert xids == sorted(set(xids))


def test_commit_end_lsn_and_message_lsn_match_the_slots_lsn_column():
    for row in CAPTURE["text"]:
        message = decode_message(bytes.fromhex(row["data"]))
        if isinstance(message, Commit):
            assert message.end_lsn == parse_lsn(row["lsn"])
        if isinstance(message, Message):
            assert message.lsn == parse_lsn(row["lsn"])
            assert format_lsn(message.lsn) == row["lsn"]


def test_commit_times_are_the_servers_clock_unless_replayed(transactions):
    for begin, *rest in transactions:
        if isinstance(begin, Begin) and not isinstance(rest[0], Origin):
            assert begin.commit_time > datetime(2024, 1, 2, tzinfo=UTC)


def test_an_enum_type_is_described_before_the_relation_that_uses_it(transactions, account):
    type_message, relation = transactions[0][1:3]
    assert type_message == Type(oid=type_message.oid, namespace=NAMESPACE, name="mood")
    assert relation == account
    assert account.columns[10] == Column(False, "mood", type_message.oid, -1)
    assert type_message.oid >= 16384  # a user-defined type, not a built-in one


def test_relation_lists_columns_types_and_the_primary_key(account):
    assert account == Relation(
        oid=account.oid,
        namespace=NAMESPACE,
        name="account",
        replica_identity="d",
        columns=(
            Column(is_key=True, name="id", type_oid=2950, type_modifier=-1),
            Column(is_key=False, name="name", type_oid=25, type_modifier=-1),
            Column(is_key=False, name="active", type_oid=16, type_modifier=-1),
            Column(is_key=False, name="visits", type_oid=23, type_modifier=-1),
            Column(is_key=False, name="balance", type_oid=20, type_modifier=-1),
            # numeric(12, 4): ((12 << 16) | 4) + 4, PostgreSQL's packing of precision and scale
            Column(is_key=False, name="ratio", type_oid=1700, type_modifier=786440),
            Column(is_key=False, name="score", type_oid=701, type_modifier=-1),
            Column(is_key=False, name="profile", type_oid=3802, type_modifier=-1),
            Column(is_key=False, name="seen_at", type_oid=1184, type_modifier=-1),
            Column(is_key=False, name="born_on", type_oid=1082, type_modifier=-1),
            Column(
                is_key=False, name="mood", type_oid=account.columns[10].type_oid, type_modifier=-1
            ),
            Column(is_key=False, name="biography", type_oid=25, type_modifier=-1),
        ),
    )


def test_under_replica_identity_full_every_column_is_a_key(ledger):
    assert ledger.replica_identity == "f"
    assert [(c.name, c.is_key, c.type_oid, c.type_modifier) for c in ledger.columns] == [
        ("id", True, 20, -1),
        ("account_id", True, 2950, -1),
        ("amount", True, 1700, -1),
        ("memo", True, 1043, 44),  # varchar(40): the length plus a 4-byte header
    ]


def test_insert_sends_every_column_as_text(transactions, account):
    change = transactions[0][3]
    assert (change.operation, change.relation_oid, change.old) == ("insert", account.oid, None)
    *values, biography = change.new
    assert values == [
        ACCOUNT_A,  # inserted uppercase and without hyphens: PostgreSQL prints it canonically
        "Zoë",
        "t",
        "7",
        "9007199254740993",
        "1234.5678",
        "0.1",
        json.dumps(PROFILE),
        "2024-01-02 03:04:05.123+00",
        "1990-05-17",
        "happy",
    ]
    assert is_biography(biography)


def test_row_to_dict_converts_an_insert_to_json_friendly_values(transactions, account):
    row = row_to_dict(account, transactions[0][3].new)
    assert is_biography(row.pop("biography"))
    # jsonb: the server's own JSON text, as it wrote it; parsed on request.
    profile = row.pop("profile")
    assert isinstance(profile, JsonText) and profile == json.dumps(PROFILE)
    assert profile.parsed() == PROFILE
    assert row == {
        "id": ACCOUNT_A,
        "name": "Zoë",
        "active": True,
        "visits": 7,
        "balance": 9007199254740993,  # exact: past 2**53, a float would round it
        "ratio": "1234.5678",
        "score": 0.1,
        "seen_at": "2024-01-02T03:04:05.123+00:00",
        "born_on": "1990-05-17",
        "mood": "happy",
    }


def test_nulls_decode_as_none(transactions, account):
    change = transactions[0][4]
    assert change == insert(account.oid, (ACCOUNT_B, "Bob", "f") + (None,) * 9)
    assert row_to_dict(account, change.new)["visits"] is None


def test_an_update_leaving_a_toasted_value_alone_marks_it_unchanged(transactions, account):
    _, update, _ = transactions[2]
    assert update.operation == "update"
    assert (update.relation_oid, update.old, update.old_kind) == (account.oid, None, None)
    assert update.new[-1] is UNCHANGED_TOAST
    row = row_to_dict(account, update.new)
    assert row["biography"] is UNCHANGED_TOAST
    assert (row["visits"], row["seen_at"]) == (8, "2024-06-30T23:59:59.999999+00:00")


def test_an_update_of_the_key_sends_the_old_key_as_K(transactions, account):
    _, update, _ = transactions[3]
    assert update == RowChange(
        operation="update",
        relation_oid=account.oid,
        old_kind="K",
        old=(ACCOUNT_B,) + (None,) * 11,  # only key columns; the rest are sent as NULL
        new=(ACCOUNT_B_RENAMED, "Bob", "f") + (None,) * 9,
    )


def test_replica_identity_full_sends_whole_old_rows_as_O(transactions, ledger):
    _, update, delete, _ = transactions[4]
    assert update == RowChange(
        operation="update",
        relation_oid=ledger.oid,
        old_kind="O",
        old=("1", ACCOUNT_A, "12.50", "first"),
        new=("1", ACCOUNT_A, "13.00", "first"),
    )
    assert delete == RowChange("delete", ledger.oid, "O", ("2", ACCOUNT_A, "-3.25", None), None)


def test_a_delete_sends_the_old_key_as_K(transactions, account):
    _, delete, _ = transactions[5]
    old_key = (ACCOUNT_B_RENAMED,) + (None,) * 11
    assert delete == RowChange("delete", account.oid, "K", old_key, None)


def test_a_replayed_transaction_names_its_origin(transactions, account):
    begin, origin, change, _ = transactions[6]
    assert origin == Origin(lsn=parse_lsn("0/ABCDEF"), name="pgoutput_capture_upstream")
    # The commit time is the origin's, as set by pg_replication_origin_xact_setup().
    assert begin.commit_time == datetime(2024, 1, 1, tzinfo=UTC)
    assert change == insert(account.oid, (ACCOUNT_C, "Cy", "t") + (None,) * 9)


def test_truncate_names_every_table_and_its_options(transactions, account, ledger):
    cascading = transactions[7][3]
    ledger_tag = transactions[7][2]
    assert ledger_tag.name == "ledger_tag"
    assert cascading == Truncate(
        relation_oids=(ledger.oid, ledger_tag.oid), cascade=True, restart_identity=True
    )
    assert transactions[8][3] == Truncate((account.oid,), cascade=False, restart_identity=False)


def test_logical_decoding_messages_keep_prefix_content_and_transactionality(transactions):
    inside = transactions[0][-2]
    (outside,) = transactions[1]
    assert (inside.transactional, inside.prefix, inside.content) == (
        True,
        "changefeed/test",
        b"inside a transaction",
    )
    assert (outside.transactional, outside.prefix, outside.content) == (
        False,
        "changefeed/heartbeat",
        b"\x00\xff",
    )
    assert inside.lsn < outside.lsn


def test_binary_mode_sends_each_types_send_format_as_bytes():
    binary = [decode_message(payload) for payload in BINARY]
    text = [decode_message(payload) for payload in TEXT]
    assert [type(message) for message in binary] == [type(message) for message in text]
    change = binary[3]
    assert change.new[:8] == (
        uuid.UUID(ACCOUNT_A).bytes,
        "Zoë".encode(),
        b"\x01",
        (7).to_bytes(4, "big"),
        (9007199254740993).to_bytes(8, "big"),
        b"\x00\x02\x00\x00\x00\x00\x00\x04\x04\xd2\x16\x2e",  # numeric: base-10000 digits
        struct.pack(">d", 0.1),
        b"\x01" + json.dumps(PROFILE).encode(),  # jsonb: a version byte, then the text
    )
    assert change.new[-1] == text[3].new[-1].encode()
    update = binary[14]
    assert update.new[-1] is UNCHANGED_TOAST
    assert row_to_dict(text[2], update.new)["visits"] == (8).to_bytes(4, "big")


# --- Errors -------------------------------------------------------------------------------------

CAPTURED = [
    pytest.param(payload, id=f"{mode}-{index:02}-{chr(payload[0])}")
    for mode, payloads in (("text", TEXT), ("binary", BINARY))
    for index, payload in enumerate(payloads)
]
TRUNCATED = re.compile(
    r"pgoutput (?P<name>[A-Z][a-z]+) \('(?P<letter>.)'\) message truncated "
    r"at byte (?P<offset>\d+) of (?P<size>\d+)"
)


@pytest.mark.parametrize("payload", CAPTURED)
def test_every_truncation_of_a_captured_message_is_an_error_naming_type_and_offset(payload):
    with pytest.raises(PgOutputDecodeError, match="^empty pgoutput message$"):
        decode_message(payload[:0])
    for size in range(1, len(payload)):
        with pytest.raises(PgOutputDecodeError) as caught:
            decode_message(payload[:size])
        match = TRUNCATED.fullmatch(str(caught.value))
        assert match, str(caught.value)
        assert match["letter"] == chr(payload[0])
        assert letter(decode_message(payload)) == match["letter"]
        assert int(match["size"]) == size
        assert 1 <= int(match["offset"]) <= size


@pytest.mark.parametrize("payload", CAPTURED)
def test_bytes_after_a_complete_message_are_an_error(payload):
    size = len(payload)
    with pytest.raises(PgOutputDecodeError, match=f"at byte {size} of {size + 3}: 3 unexpected"):
        decode_message(payload + b"\x00\x00\x00")


def test_an_insert_error_reads_like_the_documentation_example():
    insert = b"I" + struct.pack(">I", 16395) + b"N" + struct.pack(">H", 1) + b"t"
    insert += struct.pack(">I", 8) + b"abcdefgh"
    assert len(insert) == 21
    with pytest.raises(PgOutputDecodeError) as caught:
        decode_message(insert[:20])
    assert str(caught.value) == "pgoutput Insert ('I') message truncated at byte 13 of 20"


def test_an_unknown_message_type_is_an_error():
    with pytest.raises(PgOutputDecodeError) as caught:
        decode_message(b"Z\x00\x00")
    assert str(caught.value) == "unknown pgoutput message type 'Z' at byte 0"


@pytest.mark.parametrize(
    ("letter", "name", "reason"),
    [
        ("S", "Stream Start", "proto_version '1'"),
        ("E", "Stream Stop", "streaming 'off'"),
        ("c", "Stream Commit", "protocol version 2"),
        ("A", "Stream Abort", "protocol version 2"),
        ("b", "Begin Prepare", "two_phase 'off'"),
        ("P", "Prepare", "protocol version 3"),
        ("K", "Commit Prepared", "protocol version 3"),
        ("r", "Rollback Prepared", "protocol version 3"),
        ("p", "Stream Prepare", "protocol version 3"),
    ],
)
def test_protocol_2_and_3_messages_are_refused_clearly(letter, name, reason):
    with pytest.raises(PgOutputDecodeError) as caught:
        decode_message(letter.encode() + bytes(20))
    message = str(caught.value)
    assert message.startswith(f"unsupported pgoutput {name} ('{letter}') message at byte 0: ")
    assert reason in message


def insert_of(*columns: bytes) -> bytes:
    return b"I" + struct.pack(">IcH", 16395, b"N", len(columns)) + b"".join(columns)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (
            insert_of(b"x"),
            "pgoutput Insert ('I') message malformed at byte 8 of 9: unknown tuple column kind 'x'",
        ),
        (
            b"I" + struct.pack(">IcH", 16395, b"X", 0),
            "pgoutput Insert ('I') message malformed at byte 5 of 8: expected 'N', got 'X'",
        ),
        (
            b"U" + struct.pack(">IcHccH", 16395, b"K", 1, b"n", b"O", 0),
            "pgoutput Update ('U') message malformed at byte 9 of 12: expected 'N', got 'O'",
        ),
        (
            b"D" + struct.pack(">IcH", 16395, b"N", 0),
            "pgoutput Delete ('D') message malformed at byte 5 of 8: expected 'K' or 'O', got 'N'",
        ),
        (
            insert_of(b"n", b"t" + struct.pack(">I", 3) + b"a\xffb"),
            "pgoutput Insert ('I') message malformed at byte 15 of 17: invalid UTF-8",
        ),
        (
            b"Y" + struct.pack(">I", 16390) + b"public\x00caf\xc3\x00",
            "pgoutput Type ('Y') message malformed at byte 15 of 17: invalid UTF-8",
        ),
        (
            b"B" + struct.pack(">QqI", 1, 2**63 - 1, 1),
            "pgoutput Begin ('B') message malformed at byte 9 of 21: "
            "timestamp 9223372036854775807 is out of range",
        ),
    ],
)
def test_corrupt_messages_are_errors_naming_type_offset_and_problem(payload, error):
    with pytest.raises(PgOutputDecodeError) as caught:
        decode_message(payload)
    assert str(caught.value) == error


@pytest.mark.parametrize(
    ("payload", "offset"),
    [
        # Counts and lengths near 2**32 must fail at once, not loop or allocate their way there.
        (b"T" + struct.pack(">IB", 2**32 - 1, 0), 6),
        (insert_of(b"t" + struct.pack(">I", 2**32 - 1) + b"abc"), 13),
        (b"M" + struct.pack(">BQ", 1, 5) + b"prefix\x00" + struct.pack(">I", 2**32 - 1), 21),
        (b"R" + struct.pack(">I", 1) + b"public\x00t\x00d" + struct.pack(">H", 65535), 17),
    ],
)
def test_absurd_counts_and_lengths_are_truncation_errors(payload, offset):
    with pytest.raises(PgOutputDecodeError, match=f"truncated at byte {offset} of {len(payload)}"):
        decode_message(payload)


def test_memoryview_and_bytearray_input_decode_like_bytes(messages):
    assert decode_message(memoryview(TEXT[3])) == messages[3]
    assert decode_message(bytearray(TEXT[3])) == messages[3]


def test_decode_errors_are_value_errors():
    assert issubclass(PgOutputDecodeError, ValueError)


# --- UNCHANGED_TOAST and the message classes ----------------------------------------------------


def test_unchanged_toast_is_a_singleton_distinct_from_null():
    assert UNCHANGED_TOAST is not None
    assert repr(UNCHANGED_TOAST) == "UNCHANGED_TOAST"
    assert copy.deepcopy(UNCHANGED_TOAST) is UNCHANGED_TOAST


def test_messages_are_frozen_values(messages):
    with pytest.raises(dataclasses.FrozenInstanceError):
        messages[0].xid = 1
    # The Relation resent after TRUNCATE describes the same table, so it is equal and hashes so.
    first, resent = messages[2], messages[-3]
    assert first is not resent
    assert {first: "account"}[resent] == "account"


# --- convert_value -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_oid", "text", "expected"),
    [
        (16, "t", True),
        (16, "f", False),
        (21, "-32768", -32768),
        (23, "7", 7),
        (20, "9223372036854775807", 9223372036854775807),
        (26, "16395", 16395),
        (700, "1.5", 1.5),
        (701, "-0.1", -0.1),
        (701, "Infinity", "Infinity"),  # JSON has no infinities: the text stays
        (701, "-Infinity", "-Infinity"),
        (700, "NaN", "NaN"),
        (1700, "1234.5678", "1234.5678"),
        (1700, "0.10000000000000000000000001", "0.10000000000000000000000001"),
        (1700, "NaN", "NaN"),
        (25, "Zoë", "Zoë"),
        (1043, "varchar", "varchar"),
        (1042, "padded  ", "padded  "),
        (19, "pg_class", "pg_class"),
        (2950, ACCOUNT_A, ACCOUNT_A),
        # json and jsonb: the server's text as it is (JsonText), never through Python numbers.
        (114, '{"b": [1, 2.5, null]}', JsonText('{"b": [1, 2.5, null]}')),
        (3802, '"a string"', JsonText('"a string"')),
        (3802, "18446744073709551616", JsonText("18446744073709551616")),
        (114, '{\n "a": 1}', JsonText('{  "a": 1}')),  # a JSON line must not break
        (1082, "2024-02-29", "2024-02-29"),
        (1082, "infinity", "infinity"),
        (1082, "0044-03-15 BC", "0044-03-15 BC"),
        (1083, "03:04:05.5", "03:04:05.5"),
        (1083, "24:00:00", "24:00:00"),
        (1266, "03:04:05+02", "03:04:05+02:00"),
        (1114, "2024-01-02 03:04:05", "2024-01-02T03:04:05"),
        (1114, "2024-01-02 03:04:05.123456", "2024-01-02T03:04:05.123456"),
        (1184, "2024-01-02 03:04:05.123+00", "2024-01-02T03:04:05.123+00:00"),
        (1184, "2024-01-02 03:04:05-08", "2024-01-02T03:04:05-08:00"),
        (1114, "0044-03-15 00:00:00 BC", "0044-03-15 00:00:00 BC"),
        (1184, "2024-01-02 03:04:05+05:30", "2024-01-02T03:04:05+05:30"),
        (1184, "1900-01-01 00:00:00+00:53:28", "1900-01-01T00:00:00+00:53:28"),
        (1184, "infinity", "infinity"),
        (1184, "-infinity", "-infinity"),
        (1184, "10000-01-01 00:00:00+00", "10000-01-01 00:00:00+00"),
        (17, "\\x00ff", "\\x00ff"),
        (1186, "1 day 02:03:04", "1 day 02:03:04"),  # interval: not converted, stays text
        (1007, "{1,2,3}", "{1,2,3}"),  # int4[]: arrays stay text too
    ],
)
def test_convert_value(type_oid, text, expected):
    assert convert_value(type_oid, text) == expected
    assert type(convert_value(type_oid, text)) is type(expected)


def test_convert_value_refuses_a_boolean_postgresql_would_never_print():
    with pytest.raises(ValueError, match="invalid boolean"):
        convert_value(16, "true")


def test_row_to_dict_refuses_a_tuple_of_the_wrong_width(account):
    with pytest.raises(ValueError, match="'account' has 12 columns but the tuple has 2 values"):
        row_to_dict(account, ("a", "b"))


# --- converting while decoding -----------------------------------------------------------------


def test_decoding_with_converters_gives_the_values_row_to_dict_gives(messages):
    """Every captured row change, decoded in one pass, equals decode-then-row_to_dict."""
    relations = {m.oid: m for m in messages if isinstance(m, Relation)}
    converters = {oid: converters_of(relation) for oid, relation in relations.items()}
    compared = 0
    for payload, plain in zip(TEXT, messages, strict=True):
        converted = decode_message(payload, converters)
        if not isinstance(plain, RowChange):
            assert converted == plain
            continue
        relation = relations[plain.relation_oid]
        for field in ("old", "new"):
            values = getattr(plain, field, None)
            if values is not None:
                expected = row_to_dict(relation, values)
                assert dict(zip(expected, getattr(converted, field), strict=True)) == expected
                compared += 1
    assert compared > 10


def test_converters_for_another_width_are_a_decode_error(account):
    payload = next(
        p for p in TEXT if p[:1] == b"I" and decode_message(p).relation_oid == account.oid
    )
    with pytest.raises(PgOutputDecodeError) as caught:
        decode_message(payload, {account.oid: (None, None)})
    assert str(caught.value) == (
        f"pgoutput Insert ('I') message malformed at byte 6 of {len(payload)}: "
        "tuple has 12 columns but its relation has 2"
    )


def test_a_value_its_converter_refuses_is_a_decode_error_naming_its_offset():
    payload = insert_of(b"t" + struct.pack(">I", 3) + b"yes")
    with pytest.raises(PgOutputDecodeError) as caught:
        decode_message(payload, {16395: value_converters_of(16)})
    assert str(caught.value) == (
        "pgoutput Insert ('I') message malformed at byte 13 of 16: "
        "column value invalid boolean output 'yes'"
    )


def value_converters_of(*type_oids: int):
    columns = tuple(Column(False, f"c{i}", oid, -1) for i, oid in enumerate(type_oids))
    return converters_of(Relation(16395, "public", "t", "d", columns))


def test_row_changes_are_plain_tuples_in_field_order(messages):
    # The assembler unpacks them as tuples: the field order is part of the type.
    change = next(message for message in messages if isinstance(message, RowChange))
    assert RowChange._fields == ("operation", "relation_oid", "old_kind", "old", "new")
    assert tuple(change) == (
        change.operation,
        change.relation_oid,
        change.old_kind,
        change.old,
        change.new,
    )


def test_the_type_oids_are_named_as_the_server_names_them(source):
    rows = source.sql(
        "SELECT typname, oid::int FROM pg_type WHERE typname = ANY(%s) AND typnamespace = "
        "'pg_catalog'::regnamespace",
        [[member.name.lower() for member in TypeOid]],
    )
    assert {row["typname"].upper(): row["oid"] for row in rows} == {
        member.name: member.value for member in TypeOid
    }


# --- LSNs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lsn", "text"),
    [
        (0, "0/0"),
        (0x16_B374D848, "16/B374D848"),
        (0xABCDEF, "0/ABCDEF"),
        (2**32, "1/0"),
        (2**64 - 1, "FFFFFFFF/FFFFFFFF"),
    ],
)
def test_lsns_round_trip_through_text(lsn, text):
    assert format_lsn(lsn) == text
    assert parse_lsn(text) == lsn
    assert parse_lsn(text.lower()) == lsn


@pytest.mark.parametrize(
    "text", ["", "0", "0/", "/0", "1/2/3", "G/0", "123456789/0", " 1/2", "+1/2", "1_0/2", "0x1/2"]
)
def test_parse_lsn_refuses_anything_but_two_hex_halves(text):
    with pytest.raises(ValueError, match="invalid LSN"):
        parse_lsn(text)


@pytest.mark.parametrize("lsn", [-1, 2**64])
def test_format_lsn_refuses_values_outside_64_bits(lsn):
    with pytest.raises(ValueError, match="unsigned 64-bit"):
        format_lsn(lsn)
