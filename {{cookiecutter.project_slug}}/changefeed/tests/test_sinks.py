"""The sinks' encodings: the store's COPY path, through both drivers Django may run on, the
jsonl lines, and the JSON of a batch's changes written in one orjson call."""

import dataclasses
import io
import json
from datetime import UTC, datetime

import psycopg
import psycopg2
import pytest

from changefeed.envelopes import json_lines, json_objects
from changefeed.sinks.jsonl import JsonlSink
from changefeed.sinks.store import COPY_EVENTS, JSON_TEXT, copy_lines, copy_rows
from changefeed.transactions import Change, Transaction
from changefeed.values import CONVERTERS, JsonText, TypeOid, dumps

AWKWARD = 'tab\there, newline\nthere, back\\slash, quote " and Zoë ✓'


def awkward_transaction():
    return Transaction(
        xid=42,
        commit_lsn=1000,
        end_lsn=1048,
        commit_time=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        changes=[
            Change(
                lsn=900,
                position=0,
                table_name='public."odd\\name"',
                operation="update",
                primary_key={"id": "k\\1"},
                old={"title": AWKWARD, "n": None},
                new={"title": AWKWARD, "nested": {"list": [1, 2.5, "x\ty"]}},
                unchanged_toast=["body"],
            ),
            Change(950, 1, "public.source_rows", "delete", {"id": "k2"}, {"id": "k2"}, None, []),
        ],
    )


@pytest.mark.parametrize("driver", [psycopg2, psycopg], ids=["psycopg2", "psycopg3"])
def test_copy_rows_stores_what_copy_lines_wrote_byte_for_byte(source, driver):
    connection = driver.connect(source.url())
    try:
        with connection.cursor() as cursor:
            copy_rows(cursor, COPY_EVENTS, copy_lines("slot\\x", [awkward_transaction()]))
        connection.commit()
    finally:
        connection.close()

    rows = source.sql(
        "SELECT slot, lsn, commit_lsn, position, xid, commit_time, table_name, operation, "
        "primary_key, old, new, unchanged_toast FROM changefeed_changeevent ORDER BY position"
    )
    first, second = rows
    assert first["slot"] == "slot\\x"
    assert (first["lsn"], first["commit_lsn"], first["position"], first["xid"]) == (
        900,
        1000,
        0,
        42,
    )
    assert first["commit_time"] == datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert first["table_name"] == 'public."odd\\name"'
    assert first["primary_key"] == {"id": "k\\1"}
    assert first["old"] == {"title": AWKWARD, "n": None}
    assert first["new"] == {"title": AWKWARD, "nested": {"list": [1, 2.5, "x\ty"]}}
    assert first["unchanged_toast"] == ["body"]
    assert second["new"] is None and second["operation"] == "delete"


def test_copy_lines_marks_nulls_and_skips_transactions_without_changes(source):
    commit_time = datetime(2026, 1, 2, tzinfo=UTC)
    truncate = Change(90, 0, "public.t", "truncate", None, None, None, [])
    watermark_only = Transaction(xid=2, commit_lsn=200, end_lsn=208, commit_time=commit_time)
    # A json value jsonb cannot hold (a NUL): stored as its text, marked.
    nul = Change(290, 0, "public.t", "insert", {"id": 1}, None, {"j": JsonText('"a\\u0000b"')}, [])
    transactions = [
        Transaction(
            xid=1, commit_lsn=100, end_lsn=108, commit_time=commit_time, changes=[truncate]
        ),
        watermark_only,
        Transaction(xid=3, commit_lsn=300, end_lsn=308, commit_time=commit_time, changes=[nul]),
    ]
    connection = psycopg2.connect(source.url())
    try:
        with connection.cursor() as cursor:
            copy_rows(cursor, COPY_EVENTS, copy_lines("slot", transactions))
        connection.commit()
    finally:
        connection.close()

    rows = source.sql(
        "SELECT xid, operation, primary_key IS NULL AS no_key, old IS NULL AS no_old, "
        "new IS NULL AS no_new, new, unchanged_toast FROM changefeed_changeevent ORDER BY xid"
    )
    assert rows == [
        {
            "xid": 1,
            "operation": "truncate",
            **{"no_key": True, "no_old": True, "no_new": True, "new": None},  # SQL NULLs
            "unchanged_toast": [],
        },
        {
            "xid": 3,
            "operation": "insert",
            **{"no_key": False, "no_old": True, "no_new": False},
            "new": {"j": {JSON_TEXT: '"a\\u0000b"'}},
            "unchanged_toast": [],
        },
    ]


def test_a_jsonl_line_holds_the_transaction_and_change_fields():
    tx = awkward_transaction()
    stream = io.StringIO()  # a text stream without a binary buffer: the sink decodes for it
    sink = JsonlSink("the_slot", stream)
    sink.write([tx], sink.encode([tx]))

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines == [
        {
            "slot": "the_slot",
            "commit_lsn": 1000,
            "xid": 42,
            "commit_time": "2026-01-02T03:04:05.678901+00:00",
            **dataclasses.asdict(change),
        }
        for change in tx.changes
    ]
    assert lines[0]["old"]["title"] == AWKWARD


# Every way a value could look like the separator json_lines puts between objects, or hold a
# line break: strings, keys, and json values as the server wrote them.
TRICKY_OBJECTS = [
    {"text": "a,\n,b", "key,\n,": [",", "\n", "\r\n"], "n": 1},
    # A json value as the server keeps it: raw line breaks and tabs between tokens only.
    {
        "json": CONVERTERS[TypeOid.JSON]('{"k": ",\\n,",\n\t"l": [1,\t2]}\r\n'),
        "jsonb": JsonText('{"a": [1, {"b": "\\n"}]}'),
    },
    {"empty": "", "list": [], "null": None},
]


@pytest.mark.parametrize("size", ["small", "large"])
def test_json_lines_are_each_objects_json_on_a_line_of_its_own(size):
    objects = [*TRICKY_OBJECTS]
    if size == "large":  # past 16 MB the lines are views of orjson's output, not copies
        objects.insert(1, {"big": "x" * (1 << 24)})
    expected = [dumps(value) for value in objects]

    written = b"".join(json_lines(objects))

    assert written == b"".join(line + b"\n" for line in expected)
    assert json_objects(objects) == expected
    assert [json.loads(line) for line in written.splitlines()][-2]["jsonb"] == {
        "a": [1, {"b": "\n"}]
    }


def test_json_lines_of_nothing_is_nothing():
    assert json_lines([]) == []
    assert json_objects([]) == []
