"""consume_changes --sink redis against a real Postgres and a real redis-server: each change one
stream entry, once, in commit order, in either format; and read_changes, its reading side."""

import json
import os
import re
import signal
import time
import uuid
from datetime import UTC, datetime

import pytest
import redis

from changefeed.envelopes import UNAVAILABLE_VALUE
from changefeed.replication import ChangeFeedError
from changefeed.sinks.redis_streams import RedisStreamsSink
from changefeed.tests.redis_servers import STREAM, DurableRedis, entries
from changefeed.tests.source_databases import TABLE
from changefeed.transactions import Change, SnapshotStep, Transaction

# Deep: the redis sink and read_changes against redis-server, in depth.
# Left out of the default run; `pytest -m deep` runs it.
pytestmark = pytest.mark.deep

INSERT = (
    f"INSERT INTO {TABLE} (id, title, notes, done, created_at, updated_at) "
    "VALUES (%s, %s, %s, false, now(), now())"
)
UPDATE_TITLE = f"UPDATE {TABLE} SET title = %s WHERE id = %s"
DELETE = f"DELETE FROM {TABLE} WHERE id = %s"
EVENT_FIELDS = (
    "lsn",
    "commit_lsn",
    "position",
    "xid",
    "table_name",
    "operation",
    "primary_key",
    "old",
    "new",
    "unchanged_toast",
)


def new_id():
    return str(uuid.uuid4())


def consume_into(source, url, *args, slot=None):
    result = source.manage(
        "consume_changes",
        *("--sink", "redis", "--redis-url", url, "--idle-timeout", "1", "-v", "0", *args),
        *(("--slot", slot) if slot else ()),
    )
    assert result.returncode == 0, result.stderr
    return result


def every_kind_of_change(source):
    """Inserts, an update that leaves a TOASTed value alone, a delete, a truncation."""
    a, b = new_id(), new_id()
    toasted = os.urandom(8000).hex()  # incompressible: stored out of line (TOASTed)
    source.transaction((INSERT, [a, "a", toasted]), (INSERT, [b, "b", "short"]))
    source.transaction((UPDATE_TITLE, ["a, renamed", a]), (DELETE, [b]))
    source.sql(f"TRUNCATE {TABLE}")
    return a, b


def test_every_kind_of_change_arrives_once_in_commit_order_as_the_store_has_it(
    source, durable_redis
):
    # Two slots from the same point: one into Redis, one into the store, to compare.
    source.manage("changefeed_slot", "create")
    source.manage("changefeed_slot", "create", "--slot", "store_copy")
    a, _ = every_kind_of_change(source)

    consume_into(source, durable_redis.url)
    result = source.manage("consume_changes", "--idle-timeout", "1", "--slot", "store_copy")
    assert result.returncode == 0, result.stderr

    events = source.events()
    stored = entries(durable_redis.url)
    assert [change["operation"] for _, _, change in stored] == [
        "insert",
        "insert",
        "update",
        "delete",
        "truncate",
    ]
    # IDs: the commit's LSN, then the change's position in its transaction.
    assert [entry_id for entry_id, _, _ in stored] == [
        f"{event['commit_lsn']}-{event['position']}" for event in events
    ]
    assert {name for _, name, _ in stored} == {"change"}
    for (_, _, change), event in zip(stored, events, strict=True):
        assert {name: change[name] for name in EVENT_FIELDS} == event
        assert change["slot"] == source.slot_name
    update = stored[2][2]
    assert update["unchanged_toast"] == ["notes"] and "notes" not in update["new"]
    assert update["new"]["title"] == "a, renamed" and update["primary_key"] == {"id": a}


def test_the_debezium_envelope_carries_before_after_source_and_op(source, durable_redis):
    source.manage("changefeed_slot", "create")
    a, b = every_kind_of_change(source)

    consume_into(source, durable_redis.url, "--format", "debezium")

    stored = entries(durable_redis.url)
    assert [event["op"] for _, _, event in stored] == ["c", "c", "u", "d", "t"]
    # One field, named after the record's key, as Debezium Server's Redis sink writes.
    assert [name for _, name, _ in stored] == [
        *(json.dumps({"id": row}, separators=(",", ":")) for row in (a, b, a, b)),
        "default",
    ]
    insert, _, update, delete, truncate = (event for _, _, event in stored)
    assert insert["before"] is None and insert["after"]["title"] == "a"
    # An unchanged TOASTed value is Debezium's placeholder, never null.
    assert update["after"]["notes"] == UNAVAILABLE_VALUE
    assert update["after"]["title"] == "a, renamed" and update["before"] is None
    assert delete["before"] == {"id": b} and delete["after"] is None
    assert truncate["before"] is None and truncate["after"] is None
    for _, _, event in stored:
        source_ = event["source"]
        assert source_["connector"] == "postgresql" and source_["db"] == source.name
        assert (source_["schema"], source_["table"]) == ("public", TABLE)
        assert source_["name"] == source.slot_name and source_["snapshot"] == "false"
        assert isinstance(source_["lsn"], int) and isinstance(source_["txId"], int)
        assert isinstance(source_["ts_ms"], int) and event["ts_ms"] >= source_["ts_ms"]
    assert stored[0][2]["source"]["txId"] == stored[1][2]["source"]["txId"]
    assert stored[0][2]["source"]["txId"] != stored[2][2]["source"]["txId"]


def test_jsonl_writes_the_debezium_envelope_too(source):
    source.manage("changefeed_slot", "create")
    every_kind_of_change(source)

    result = source.manage(
        "consume_changes", "--sink", "jsonl", "--format", "debezium", "--idle-timeout", "1"
    )

    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [event["op"] for event in events] == ["c", "c", "u", "d", "t"]
    assert events[2]["after"]["notes"] == UNAVAILABLE_VALUE
    assert events[0]["source"]["table"] == TABLE


def test_what_redis_already_holds_is_never_written_twice(source, durable_redis):
    # A second slot from the same point replays everything the first put into Redis, as a
    # consumer that crashed after Redis answered but before Postgres heard would.
    source.manage("changefeed_slot", "create")
    source.manage("changefeed_slot", "create", "--slot", "replay")
    every_kind_of_change(source)
    consume_into(source, durable_redis.url)
    first = entries(durable_redis.url)

    consume_into(source, durable_redis.url, slot="replay")
    assert entries(durable_redis.url) == first

    c = new_id()
    source.transaction((INSERT, [c, "c", ""]))
    consume_into(source, durable_redis.url, slot="replay")
    consume_into(source, durable_redis.url)
    after = entries(durable_redis.url)
    assert after[:-1] == first and after[-1][2]["primary_key"] == {"id": c}


def test_a_restart_resumes_after_what_redis_holds(source, durable_redis):
    source.manage("changefeed_slot", "create")
    every_kind_of_change(source)
    consume_into(source, durable_redis.url, "--redis-maxlen", "1000")
    c = new_id()
    source.transaction((INSERT, [c, "c", ""]))

    result = consume_into(source, durable_redis.url, "-v", "1")

    assert "Consumed 1 change events" in result.stderr
    assert [change["operation"] for _, _, change in entries(durable_redis.url)][-2:] == [
        "truncate",
        "insert",
    ]


def refusal(source, *args):
    result = source.manage("consume_changes", "--idle-timeout", "1", *args)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: "), line
    return line


def test_a_redis_that_can_lose_acknowledged_writes_is_refused(source, volatile_redis):
    line = refusal(source, "--sink", "redis", "--redis-url", volatile_redis)

    assert "runs with appendonly no" in line
    assert "set appendonly yes and appendfsync always" in line


def test_a_batch_redis_refuses_stops_the_consumer_with_its_reason(source, durable_redis):
    source.manage("changefeed_slot", "create")
    every_kind_of_change(source)
    redis.Redis.from_url(durable_redis.url).config_set("maxmemory", "1")  # full: refuses writes

    line = refusal(source, "--sink", "redis", "--redis-url", durable_redis.url, "-v", "0")

    assert "refused a batch (OOM command not allowed when used memory" in line, line
    assert "Give Redis memory (maxmemory), or trim the streams" in line
    assert "it was not acknowledged" in line
    assert entries(durable_redis.url) == []


def inserts(commit_lsn, tables, snapshot=None):
    """One transaction committed at `commit_lsn`: an insert into each of `tables`, in order (and
    a snapshot step)."""
    changes = [
        Change(
            commit_lsn - len(tables) + position,
            position,
            table,
            "insert",
            {"id": position},
            None,
            {"id": position},
            [],
        )
        for position, table in enumerate(tables)
    ]
    return [Transaction(1, commit_lsn, commit_lsn + 1, datetime.now(UTC), changes, None, snapshot)]


STREAM_TABLE = STREAM.removeprefix("changefeed.")


def test_redis_whole_answer_to_a_large_batch_is_checked(durable_redis):
    # Redis answers thousands of XADDs in many pieces; the sink reads them off the socket itself.
    sink = RedisStreamsSink("slot", durable_redis.url)
    sink.checkpoint()
    batch = inserts(100_000, [STREAM_TABLE] * 20_000)
    sink.write(batch, sink.encode(batch))
    stored = entries(durable_redis.url)
    assert [entry_id for entry_id, _, _ in stored] == [f"100000-{n}" for n in range(20_000)]
    assert stored[-1][2]["new"] == {"id": 19_999}

    # Another writer adds past the sink's end: Redis refuses the next batch's XADDs at EXEC,
    # and the sink says whose entry is in the way.
    redis.Redis.from_url(durable_redis.url).xadd(STREAM, {"change": "{}"}, id="300000-0")
    batch = inserts(200_000, [STREAM_TABLE] * 10)
    with pytest.raises(ChangeFeedError) as refused:
        sink.write(batch, sink.encode(batch))
    assert f"Stream {STREAM} in Redis at {durable_redis.url} ends at ID 300000-0" in str(
        refused.value
    )
    assert "nothing of the batch was added or acknowledged" in str(refused.value)
    # The connection that was refused was dropped: the next batch is answered, from the start.
    batch = inserts(400_000, [STREAM_TABLE] * 3)
    sink.write(batch, sink.encode(batch))
    assert [entry_id for entry_id, _, _ in entries(durable_redis.url)][-3:] == [
        "400000-0",
        "400000-1",
        "400000-2",
    ]


def test_a_stream_another_writer_added_to_is_refused_and_nothing_is_skipped(durable_redis):
    # A restarted consumer reads each stream's last ID before its first batch: one past the
    # batch's start that the feed did not write must stop it, not make it skip the batch.
    batch = inserts(100, [STREAM_TABLE] * 5)
    first = RedisStreamsSink("slot", durable_redis.url)
    first.checkpoint()
    first.write(batch, first.encode(batch))
    restarted = RedisStreamsSink("slot", durable_redis.url)
    restarted.checkpoint()
    redis.Redis.from_url(durable_redis.url).xadd(STREAM, {"change": "{}"}, id="300-2")
    batch = inserts(300, [STREAM_TABLE] * 5)

    with pytest.raises(ChangeFeedError) as refused:
        restarted.write(batch, restarted.encode(batch))

    message = str(refused.value)
    assert f"Stream {STREAM} in Redis at {durable_redis.url} ends at ID 300-2" in message
    assert "its batch in hand is 300-0 to 300-4" in message
    assert f"XSETID {STREAM} back to this feed's newest entry" in message
    assert [entry_id for entry_id, _, _ in entries(durable_redis.url)][-2:] == ["100-4", "300-2"]


TWO_TABLES = ["public.a", "public.b"]


def test_a_batch_refused_in_one_stream_is_taken_out_of_the_others(durable_redis):
    # EXEC does not roll back: when another writer's entry makes Redis refuse a batch's XADDs
    # to one stream, the sink takes the batch out of the other streams before it stops, so that
    # the way back its message gives loses nothing.
    sink = RedisStreamsSink("slot", durable_redis.url)
    sink.checkpoint()
    chunk_1 = SnapshotStep("public.a", 1, [1], 1, False)
    batch = inserts(100, TWO_TABLES, chunk_1)
    sink.write(batch, sink.encode(batch))
    client = redis.Redis.from_url(durable_redis.url)
    client.xadd("changefeed.public.b", {"change": "{}"}, id="99999999999999-0")

    chunk_2 = SnapshotStep("public.a", 1, [2], 2, True)
    batch = inserts(200, TWO_TABLES, chunk_2)
    with pytest.raises(ChangeFeedError) as refused:
        sink.write(batch, sink.encode(batch))

    assert "Stream changefeed.public.b in Redis at" in str(refused.value)
    assert "ends at ID 99999999999999-0" in str(refused.value)
    assert [entry[0] for entry in entries(durable_redis.url, "changefeed.public.a")] == ["100-0"]
    assert client.xinfo_stream("changefeed.public.a")["last-generated-id"] == b"100-0"
    assert sink.snapshot_steps() == {"public.a": chunk_1}  # the snapshot's progress too

    # The way back the message gives, then a restart: the batch lands in both streams, once.
    client.xdel("changefeed.public.b", "99999999999999-0")
    client.execute_command("XSETID", "changefeed.public.b", "100-1")
    restarted = RedisStreamsSink("slot", durable_redis.url)
    assert restarted.checkpoint() == 101
    batch = inserts(200, TWO_TABLES)
    restarted.write(batch, restarted.encode(batch))
    assert [entry[0] for entry in entries(durable_redis.url, "changefeed.public.a")] == [
        "100-0",
        "200-0",
    ]
    assert [entry[0] for entry in entries(durable_redis.url, "changefeed.public.b")] == [
        "100-1",
        "200-1",
    ]


def test_a_redis_that_refuses_the_password_is_reported_at_once(source, tmp_path):
    with DurableRedis(tmp_path, "--requirepass", "right") as server:
        wrong = f"redis://:wrong@{server.host}:{server.port}/0"
        started = time.monotonic()

        line = refusal(source, "--sink", "redis", "--redis-url", wrong, "-v", "0")
        reader = source.manage(
            "read_changes",
            "--redis-url",
            wrong,
            "--stream",
            STREAM,
            "--handler",
            "changefeed.tests.handlers.record_read",
        )

    assert time.monotonic() - started < 60  # not retried for --max-downtime (300 s)
    assert f"Redis at redis://{server.host}:{server.port}/0 refused the credentials" in line
    assert "check the user and password in --redis-url (CHANGEFEED_REDIS_URL)" in line
    assert "wrong" not in line
    assert reader.returncode == 1
    assert reader.stderr.strip().splitlines()[-1].startswith("CommandError: Redis at ")
    assert "refused the credentials" in reader.stderr


def test_a_redis_url_without_the_password_redis_asks_for_is_reported_as_such(source, tmp_path):
    with DurableRedis(tmp_path, "--requirepass", "right") as server:
        url = f"redis://{server.host}:{server.port}/0"
        line = refusal(source, "--sink", "redis", "--redis-url", url, "-v", "0")

    assert f"Redis at {url} asks for a password and --redis-url" in line
    assert "put it in the URL, redis://:PASSWORD@host:port/0" in line


def test_the_durability_check_can_be_skipped_where_config_get_is_refused(source, volatile_redis):
    # Managed Redis often refuses CONFIG GET; the user then vouches for its persistence.
    source.manage("changefeed_slot", "create")
    every_kind_of_change(source)

    consume_into(source, volatile_redis, "--skip-durability-check")

    assert len(entries(volatile_redis)) == 5


def test_an_unknown_sink_setting_is_refused(source):
    result = source.manage("consume_changes", "--idle-timeout", "1", env={"CHANGEFEED_SINK": "x"})

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "CommandError: CHANGEFEED_SINK is 'x': choose one of store, jsonl, redis."
    )


def test_a_redis_that_fsyncs_every_second_is_refused(source, durable_redis):
    redis.Redis.from_url(durable_redis.url).config_set("appendfsync", "everysec")

    line = refusal(source, "--sink", "redis", "--redis-url", durable_redis.url)

    assert "runs with appendfsync everysec" in line and "set appendfsync always" in line


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sink", "redis", "--redis-url", ""], "--sink redis needs a server: set CHANGEFEED"),
        (["--format", "debezium"], "--format is for the sinks that write JSON"),
        (
            ["--sink", "redis", "--redis-url", "redis://x", "--redis-stream", "a.{schema}"],
            "{table}",
        ),
        (["--sink", "redis", "--redis-url", "http://x"], "Cannot use Redis"),
    ],
)
def test_bad_redis_options_are_refused_in_one_line(source, args, message):
    assert message in refusal(source, *args)


# --- read_changes -------------------------------------------------------------------------------

READ_TABLE = (
    "CREATE TABLE read_changes (id serial, pid int, xid bigint, operation text, row_id text)"
)
READ = "SELECT pid, operation, row_id FROM read_changes ORDER BY id"


def start_reader(source, url, *args, env=None):
    return source.start(
        "read_changes",
        *("--redis-url", url, "--stream", STREAM, "--group", "readers", "--count", "10"),
        *("--handler", "changefeed.tests.handlers.record_read", *args),
        env=env,
    )


def consumers(url):
    client = redis.Redis.from_url(url)
    try:
        return client.xinfo_consumers(STREAM, "readers")
    except redis.exceptions.ResponseError:
        return []  # no group yet


def many_changes(source, transactions=40):
    rows = []
    for _ in range(transactions):
        ids = [new_id() for _ in range(5)]
        source.transaction(*[(INSERT, [row, "r", ""]) for row in ids])
        rows += ids
    return rows


def test_two_readers_share_the_entries_and_handle_each_once(source, durable_redis):
    source.sql(
        "CREATE TABLE read_changes (id serial, pid int, xid bigint, operation text, row_id text)"
    )
    source.manage("changefeed_slot", "create")
    readers = [start_reader(source, durable_redis.url, "--idle-timeout", "3") for _ in range(2)]
    source.wait_for(lambda: len(consumers(durable_redis.url)) == 2, what="both readers to join")

    rows = many_changes(source)
    consume_into(source, durable_redis.url)
    for reader in readers:
        _, stderr = reader.communicate(timeout=60)
        assert reader.returncode == 0, stderr

    read = source.sql(READ)
    assert sorted(row["row_id"] for row in read) == sorted(rows)
    assert {row["pid"] for row in read} == {reader.pid for reader in readers}
    assert all(consumer["pending"] == 0 for consumer in consumers(durable_redis.url))


def test_what_a_killed_reader_held_is_taken_over_by_another(source, durable_redis):
    source.sql(
        "CREATE TABLE read_changes (id serial, pid int, xid bigint, operation text, row_id text)"
    )
    source.manage("changefeed_slot", "create")
    rows = many_changes(source, transactions=4)
    consume_into(source, durable_redis.url)
    stuck = start_reader(source, durable_redis.url, env={"HANG": "1"})
    source.wait_for(
        lambda: any(consumer["pending"] for consumer in consumers(durable_redis.url)),
        what="the first reader to take entries",
    )
    other = start_reader(source, durable_redis.url, "--claim-idle", "0.5", "--idle-timeout", "3")
    source.wait_for(lambda: len(consumers(durable_redis.url)) == 2, what="the second reader")
    stuck.send_signal(signal.SIGKILL)
    stuck.communicate(timeout=30)
    _, stderr = other.communicate(timeout=60)

    assert other.returncode == 0, stderr
    read = source.sql(READ)
    assert sorted(row["row_id"] for row in read) == sorted(rows)
    assert {row["pid"] for row in read} == {other.pid}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--redis-url", "", "--handler", "x.y"], "read_changes needs a server: set CHANGEFEED"),
        (["--redis-url", "redis://x"], "No handler to call: pass --handler"),
        (["--redis-url", "redis://x", "--handler", "no.such"], "Cannot use handler 'no.such'"),
    ],
)
def test_bad_read_changes_options_are_refused_in_one_line(source, args, message):
    result = source.manage("read_changes", *args)

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: ") and message in line, line


def test_a_snapshot_into_redis_resumes_across_sigkills_and_reads_each_row_once(
    source, durable_redis
):
    source.sql(
        f"INSERT INTO {TABLE} (id, title, notes, done, created_at, updated_at) "
        "SELECT gen_random_uuid(), 'row ' || n, '', false, now(), now() "
        "FROM generate_series(1, 20000) n"
    )
    args = ("--sink", "redis", "--redis-url", durable_redis.url, "--snapshot-chunk", "200")
    source.manage("changefeed_snapshot", TABLE)
    client = redis.Redis.from_url(durable_redis.url)
    progress_key = f"changefeed.snapshot.{source.slot_name}:public.{TABLE}"
    try:
        for kill in range(3):
            consumer = source.start("consume_changes", *args, "-v", "0")
            source.wait_for(
                lambda kill=kill: client.xlen(STREAM) > 4000 * (kill + 1),
                what="the snapshot to go on",
            )
            consumer.send_signal(signal.SIGKILL)
            consumer.communicate(timeout=30)
        consume_into(source, durable_redis.url, "--snapshot-chunk", "200")

        reads = [change for _, _, change in entries(durable_redis.url)]
        assert {change["operation"] for change in reads} == {"read"}
        read_ids = [change["primary_key"]["id"] for change in reads]
        table_ids = [row["id"] for row in source.sql(f"SELECT id::text FROM {TABLE}")]
        assert len(read_ids) == len(set(read_ids)) == 20000  # none twice
        assert set(read_ids) == set(table_ids)  # none missed
        # The chunks' progress went with their entries, and the last one says done.
        step = json.loads(client.get(progress_key))
        assert step["done"] is True and step["rows"] == 20000
        assert source.sql(
            "SELECT rows, done FROM changefeed_snapshotprogress WHERE table_name = %s",
            [f"public.{TABLE}"],
        ) == [{"rows": 20000, "done": True}]
    finally:
        client.close()


def test_a_snapshots_rows_are_debezium_reads(source, durable_redis):
    source.transaction((INSERT, [new_id(), "there before", "notes"]))
    source.manage("changefeed_snapshot", TABLE)
    consume_into(source, durable_redis.url, "--format", "debezium")

    [(_, _, envelope)] = entries(durable_redis.url)
    assert envelope["op"] == "r" and envelope["before"] is None
    assert envelope["after"]["title"] == "there before"
    assert envelope["source"]["snapshot"] == "incremental"


def test_a_lost_slot_is_reported_and_its_steps_go_on_into_redis(source, durable_redis):
    # Redis keeps its own checkpoint (its streams' last IDs): the steps must work for it too.
    source.manage("changefeed_slot", "create")
    first = new_id()
    source.transaction((INSERT, [first, "before", ""]))
    consume_into(source, durable_redis.url)
    source.sql("SELECT pg_drop_replication_slot(%s)", [source.slot_name])

    args = ("--sink", "redis", "--redis-url", durable_redis.url, "--idle-timeout", "1")
    result = source.manage("consume_changes", *args)
    assert result.returncode == 1
    assert f"Replication slot {source.slot_name!r} is gone" in result.stderr

    for step in re.findall(r"`\./manage\.py ([^`]+)`", result.stderr):
        assert source.manage(*step.replace("TABLE...", TABLE).split()).returncode == 0, step
    consume_into(source, durable_redis.url)  # runs the snapshot
    last = new_id()
    source.transaction((INSERT, [last, "after", ""]))
    consume_into(source, durable_redis.url)

    held = [
        (change["operation"], change["primary_key"]["id"])
        for _, _, change in entries(durable_redis.url)
    ]
    assert held == [("insert", first), ("read", first), ("insert", last)]


# --- entries that are not this consumer's ------------------------------------------------------


def confirmed_flush(source):
    [row] = source.sql(
        "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = %s",
        [source.slot_name],
    )
    return row["lsn"]


def test_a_forged_entry_past_postgres_wal_is_refused_and_nothing_is_skipped(source, durable_redis):
    source.manage("changefeed_slot", "create")
    before = confirmed_flush(source)
    rows = [new_id() for _ in range(5)]
    source.transaction(*[(INSERT, [row, "r", ""]) for row in rows])
    client = redis.Redis.from_url(durable_redis.url)
    client.xadd(STREAM, {"change": "x"}, id="99999999999999-0")  # anyone who reaches Redis

    result = source.manage(
        "consume_changes", "--sink", "redis", "--redis-url", durable_redis.url, "-v", "0"
    )

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: The sink says changes up to 5AF3/107A4000 are stored")
    assert "that checkpoint is not this consumer's" in line
    assert f"in stream {STREAM}, whose last ID is 99999999999999-0, XDEL the foreign" in line
    assert confirmed_flush(source) == before  # nothing acknowledged past the 5 inserts
    # Without the foreign stream, the 5 changes arrive.
    client.delete(STREAM)
    client.close()
    consume_into(source, durable_redis.url)
    assert [entry[2]["primary_key"]["id"] for entry in entries(durable_redis.url)] == rows


def test_read_changes_moves_an_entry_it_cannot_read_to_a_dead_letter_stream(source, durable_redis):
    source.sql(READ_TABLE)
    source.manage("changefeed_slot", "create")
    rows = many_changes(source, transactions=2)
    consume_into(source, durable_redis.url)
    client = redis.Redis.from_url(durable_redis.url)
    client.xadd(STREAM, {"change": b"\xff not json"})  # after the feed's entries

    reader = start_reader(
        source, durable_redis.url, "--claim-idle", "0.2", "--idle-timeout", "3", "-v", "0"
    )
    _, stderr = reader.communicate(timeout=60)

    assert reader.returncode == 0, stderr  # an entry that is not a change stops no one
    assert sorted(row["row_id"] for row in source.sql(READ)) == sorted(rows)
    [(_, fields)] = client.xrange(f"{STREAM}.dead-letter")
    assert fields[b"change"] == b"\xff not json"
    assert fields[b"source-stream"] == STREAM.encode()
    assert fields[b"error"].startswith(b"JSONDecodeError")
    assert all(consumer["pending"] == 0 for consumer in consumers(durable_redis.url))
    assert "Moved entry" in stderr and "after 3 deliveries" in stderr
    client.close()


def test_a_password_in_the_redis_url_is_never_printed(source):
    url = "redis://:s3cret@127.0.0.1:1/0?password=s3cret"

    result = source.manage(
        "consume_changes",
        *("--sink", "redis", "--redis-url", url, "--max-downtime", "0.5", "-v", "0"),
    )

    assert result.returncode == 1
    assert "s3cret" not in result.stderr + result.stdout
    assert "Redis at redis://127.0.0.1:1/0" in result.stderr
