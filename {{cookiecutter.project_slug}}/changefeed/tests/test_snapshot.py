"""Snapshots against a real Postgres: the store replayed (reads, then the changes after them)
equals the table, row for row, while writers change it, across SIGKILLs, table by table."""

import json
import random
import re
import signal
import threading
import time
import uuid

import psycopg2
import pytest

from changefeed.snapshot import VisibleTransactions
from changefeed.tests.source_databases import TABLE
from changefeed.transactions import TransactionAssembler

# Deep: snapshots of large tables, under writes and SIGKILLs.
# Left out of the default run; `pytest -m deep` runs it.
pytestmark = pytest.mark.deep

QUALIFIED = f"public.{TABLE}"
FILL = (
    f"INSERT INTO {TABLE} (id, title, notes, done, created_at, updated_at) "
    "SELECT gen_random_uuid(), 'row ' || n, 'notes', n %% 2 = 0, now(), now() "
    "FROM generate_series(1, %s) n"
)


class Writer(threading.Thread):
    """Inserts, updates and deletes rows anywhere in the key order, until stopped: ahead of
    the snapshot, behind it, and in the chunk it is reading."""

    def __init__(self, url, seed, table=TABLE):
        super().__init__(daemon=True)
        self.url, self.table = url, table
        self.random = random.Random(seed)
        self.committed = 0
        self.stopped = threading.Event()

    def run(self):
        connection = psycopg2.connect(self.url)
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT id::text FROM {self.table}")
                live = [row[0] for row in cursor.fetchall()]
            connection.commit()
            while not self.stopped.is_set():
                with connection.cursor() as cursor:
                    inserts = [str(uuid.uuid4()) for _ in range(self.random.randint(1, 20))]
                    updates = self.random.sample(live, min(len(live), self.random.randint(1, 20)))
                    deletes = self.random.sample(live, min(len(live), self.random.randint(0, 8)))
                    cursor.execute(
                        f"INSERT INTO {self.table} (id, title, notes, done, created_at, "
                        "updated_at) SELECT id::uuid, 'new', '', false, now(), now() "
                        "FROM unnest(%s::text[]) id",
                        [inserts],
                    )
                    cursor.execute(
                        f"UPDATE {self.table} SET done = NOT done, title = title || '+', "
                        "updated_at = now() WHERE id = ANY(%s::uuid[])",
                        [updates],
                    )
                    cursor.execute(
                        f"DELETE FROM {self.table} WHERE id = ANY(%s::uuid[])", [deletes]
                    )
                connection.commit()
                self.committed += 1
                gone = set(deletes)
                live = [row for row in live if row not in gone] + inserts
                time.sleep(self.random.uniform(0, 0.005))
        finally:
            connection.close()

    def stop(self):
        self.stopped.set()
        self.join(timeout=30)


def replayed(source, table=QUALIFIED):
    """The table as the store tells it: reads and inserts set a row, updates replace it,
    deletes remove it, truncates empty the table."""
    rows = {}
    events = source.sql(
        "SELECT operation, primary_key, new FROM changefeed_changeevent "
        "WHERE table_name = %s ORDER BY id",
        [table],
    )
    for event in events:
        operation = event["operation"]
        if operation in ("read", "insert", "update"):
            rows[event["primary_key"]["id"]] = event["new"]
        elif operation == "delete":
            rows.pop(event["primary_key"]["id"], None)
        else:
            rows.clear()
    return rows


def table_rows(source, table=TABLE):
    # to_jsonb prints timestamps as the change feed does (ISO 8601, offset with minutes).
    rows = source.sql(f"SELECT to_jsonb(t) AS r FROM {table} t")
    return {row["r"]["id"]: row["r"] for row in rows}


def reads_of(source, table=QUALIFIED):
    return [
        row["primary_key"]["id"]
        for row in source.sql(
            "SELECT primary_key FROM changefeed_changeevent "
            "WHERE table_name = %s AND operation = 'read' ORDER BY id",
            [table],
        )
    ]


def progress(source, table=QUALIFIED):
    rows = source.sql(
        "SELECT generation, rows, done, last_key FROM changefeed_snapshotprogress "
        "WHERE slot = %s AND table_name = %s",
        [source.slot_name, table],
    )
    return rows[0] if rows else None


def wait_for_progress(source, beyond, timeout=120):
    """Until the snapshot's recorded rows pass `beyond`, polled closely (a chunk is stored in
    milliseconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = (progress(source) or {}).get("rows")
        if rows is not None and rows > beyond:
            return rows
        time.sleep(0.002)
    raise AssertionError(f"timed out after {timeout}s waiting for the snapshot to progress")


def wait_until_snapshotted(source, consumer, table=QUALIFIED, timeout=300):
    source.wait_for(
        lambda: (progress(source, table) or {}).get("done"),
        timeout=timeout,
        what=f"the snapshot of {table}",
    )


def stop(consumer):
    consumer.send_signal(signal.SIGTERM)
    _, stderr = consumer.communicate(timeout=60)
    assert consumer.returncode == 0, stderr
    return stderr


def catch_up_and_stop(source, consumer, table=TABLE):
    """Wait until the consumer has stored every change so far (a last row of the table's,
    stored in commit order, is), then SIGTERM it."""
    last = str(uuid.uuid4())
    source.sql(FILL.replace("gen_random_uuid()", "%s::uuid"), [last, 1])
    stored = "SELECT 1 FROM changefeed_changeevent WHERE primary_key = %s"
    source.wait_for(
        lambda: source.sql(stored, [json.dumps({"id": last})]),
        timeout=120,
        what="the consumer to catch up",
    )
    return stop(consumer)


def assert_replay_equals_table(source):
    reads = reads_of(source)
    assert len(reads) == len(set(reads)), "a row was read twice"
    keys = source.sql(
        "SELECT count(*) AS n, count(DISTINCT (commit_lsn, position)) AS d "
        "FROM changefeed_changeevent"
    )[0]
    assert keys["n"] == keys["d"], "an event was stored twice"
    expected, actual = table_rows(source), replayed(source)
    missing = expected.keys() - actual.keys()
    extra = actual.keys() - expected.keys()
    wrong = [key for key in expected.keys() & actual.keys() if expected[key] != actual[key]]
    assert (len(missing), len(extra), len(wrong)) == (0, 0, 0), (
        f"{len(missing)} rows missing, {len(extra)} too many, {len(wrong)} differ"
    )
    return len(reads)


def test_a_snapshot_of_100000_rows_under_writes_replays_to_the_table(source, record_property):
    source.sql(FILL, [100_000])
    seed = random.randrange(2**32)
    writer = Writer(source.url(), seed)
    writer.start()
    consumer = source.start("consume_changes", "--snapshot", "--progress-every", "0.5")
    try:
        wait_until_snapshotted(source, consumer)
        time.sleep(0.5)  # streaming goes on after the snapshot, writes included
    finally:
        writer.stop()
    stderr = catch_up_and_stop(source, consumer)

    reads = assert_replay_equals_table(source)
    record_property("seed", seed)
    print(f"seed {seed}: {reads} rows read, {writer.committed} writer transactions")
    assert writer.committed > 50  # the writer wrote during the snapshot
    assert progress(source)["rows"] == reads
    # Progress: rows, rows/s, time left (the total is the planner's estimate, or a count).
    line = rf"snapshot of {QUALIFIED}: (\d+) of ~\d+ rows, \d+ rows/s"
    assert re.search(rf"{line}, about \d+s left", stderr)
    assert re.search(rf"{line}, done", stderr)[1] == str(reads)


def test_a_snapshot_killed_10_times_resumes_and_delivers_each_row_once(source, record_property):
    source.sql(FILL, [100_000])
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    writer = Writer(source.url(), seed)
    writer.start()
    progress_at_kill = []
    try:
        for run in range(10):
            args = ["--snapshot-chunk", str(rng.choice([500, 1000, 2000])), "-v", "0"]
            consumer = source.start("consume_changes", *(["--snapshot"] if run == 0 else []), *args)
            # Killed mid-snapshot whatever the machine's speed: once this run has stored a
            # chunk, at a random moment of the next ones (reading, waiting, storing).
            stored_before = (progress(source) or {}).get("rows") or 0
            wait_for_progress(source, beyond=stored_before)
            time.sleep(rng.uniform(0, 0.03))
            consumer.send_signal(signal.SIGKILL)
            consumer.communicate(timeout=30)
            at_kill = progress(source)
            progress_at_kill.append((at_kill["rows"], at_kill["done"]))
            if at_kill["done"]:
                break
        consumer = source.start("consume_changes", "-v", "0")
        wait_until_snapshotted(source, consumer)
    finally:
        writer.stop()
    catch_up_and_stop(source, consumer)

    reads = assert_replay_equals_table(source)
    record_property("seed", seed)
    print(f"seed {seed}: progress at the kills {progress_at_kill}, {reads} rows read")
    # The kills landed during the snapshot, at different places.
    assert len({rows for rows, done in progress_at_kill if not done}) >= 3, progress_at_kill


OTHER = "other_rows"


def test_a_table_added_later_is_snapshotted_on_demand_alone(source):
    source.sql(FILL, [3000])
    source.sql(f"CREATE TABLE {OTHER} (LIKE {TABLE} INCLUDING ALL)")
    source.sql(FILL.replace(TABLE, OTHER), [2000])
    consumer = source.start("consume_changes", "--snapshot", "-v", "0")
    wait_until_snapshotted(source, consumer)
    stop(consumer)
    first_reads = reads_of(source)
    assert len(first_reads) == 3000 and reads_of(source, f"public.{OTHER}") == []

    # other_rows joins CHANGEFEED_TABLES; the consumer restarts with it, then is asked.
    both = {"CHANGEFEED_TABLES": f"{TABLE},{OTHER}"}
    consumer = source.start("consume_changes", "-v", "0", env=both)
    source.wait_for(lambda: source.slot()["active_pid"], what="the consumer to stream")
    writer = Writer(source.url(), seed=7, table=OTHER)
    writer.start()
    try:
        result = source.manage("changefeed_snapshot", OTHER, env=both)
        assert result.returncode == 0, result.stderr
        assert f"Snapshot of public.{OTHER} requested" in result.stdout
        wait_until_snapshotted(source, consumer, f"public.{OTHER}")
    finally:
        writer.stop()
    catch_up_and_stop(source, consumer, OTHER)

    assert reads_of(source) == first_reads  # the first table was left alone
    assert table_rows(source, OTHER) == replayed(source, f"public.{OTHER}")
    assert progress(source)["generation"] == 1 and progress(source, f"public.{OTHER}")["done"]

    # Asked again, the table is read again, under a new generation.
    rows_now = len(table_rows(source))
    result = source.manage("changefeed_snapshot", TABLE, env=both)
    assert result.returncode == 0, result.stderr
    consumer = source.start("consume_changes", "-v", "0", env=both)
    wait_until_snapshotted(source, consumer)
    catch_up_and_stop(source, consumer)
    assert progress(source)["generation"] == 2
    assert len(reads_of(source)) == len(first_reads) + rows_now
    assert table_rows(source) == replayed(source)


def test_tables_without_a_primary_key_or_outside_the_feed_are_refused(source):
    source.sql("CREATE TABLE keyless (name text)")
    result = source.manage("changefeed_snapshot", "keyless", env={"CHANGEFEED_TABLES": "keyless"})
    assert result.returncode == 1
    assert "Table public.keyless has no primary key" in result.stderr
    assert "Traceback" not in result.stderr

    result = source.manage("consume_changes", "--snapshot", "--tables", "keyless")
    assert result.returncode == 1 and "public.keyless has no primary key" in result.stderr

    result = source.manage("changefeed_snapshot", "keyless")
    assert result.returncode == 1
    assert "public.keyless is not one of the change feed's tables" in result.stderr


def test_the_jsonl_sink_prints_reads_then_the_stream(source):
    source.sql(FILL, [1200])
    assert source.manage("changefeed_slot", "create").returncode == 0
    result = source.manage(
        "consume_changes",
        *("--sink", "jsonl", "--snapshot", "--snapshot-chunk", "500", "--idle-timeout", "2"),
        *("-v", "0"),
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["operation"] for line in lines] == ["read"] * 1200
    assert {line["primary_key"]["id"] for line in lines} == table_rows(source).keys()
    assert lines[0]["new"]["title"].startswith("row ") and lines[0]["old"] is None
    assert progress(source)["done"] and progress(source)["rows"] == 1200

    # Done: a restart reads nothing again, and streams what changed.
    source.sql(f"DELETE FROM {TABLE} WHERE id = %s", [lines[0]["primary_key"]["id"]])
    result = source.manage(
        "consume_changes", "--sink", "jsonl", "--snapshot", "--idle-timeout", "1", "-v", "0"
    )
    assert [json.loads(line)["operation"] for line in result.stdout.splitlines()] == ["delete"]


def test_a_watermark_message_marks_its_transaction():
    # Begin, the snapshot's logical message, Commit: as pgoutput sends them.
    begin = b"B" + (100).to_bytes(8, "big") + (0).to_bytes(8, "big") + (7).to_bytes(4, "big")
    content = b"slot abc 1"
    message = (
        b"M\x01"
        + (90).to_bytes(8, "big")
        + b"changefeed.snapshot\x00"
        + len(content).to_bytes(4, "big")
        + content
    )
    other = b"M\x01" + (95).to_bytes(8, "big") + b"other\x00" + (1).to_bytes(4, "big") + b"x"
    commit = b"C\x00" + (100).to_bytes(8, "big") + (120).to_bytes(8, "big") + bytes(8)
    assembler = TransactionAssembler()
    for payload in (begin, other, message):
        assert assembler.receive(payload, 90) is None
    transaction = assembler.receive(commit, 100)
    assert transaction.watermark == "slot abc 1" and transaction.changes == []


@pytest.mark.parametrize(
    ("snapshot", "xid", "sees"),
    [
        ("100:105:101,103", 99, True),
        ("100:105:101,103", 101, False),
        ("100:105:101,103", 102, True),
        ("100:105:101,103", 105, False),
        # 64-bit ids past a wraparound; the stream's are 32-bit.
        (f"{2**32 + 5}:{2**32 + 9}:{2**32 + 6}", 6, False),
        (f"{2**32 + 5}:{2**32 + 9}:{2**32 + 6}", 7, True),
        (f"{2**32 + 5}:{2**32 + 9}:", 2**32 - 3, True),
    ],
)
def test_transactions_are_told_apart_by_what_the_chunk_saw(snapshot, xid, sees):
    assert VisibleTransactions(snapshot).sees(xid) is sees
