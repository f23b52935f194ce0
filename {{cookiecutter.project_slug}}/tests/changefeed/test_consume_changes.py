"""consume_changes against a real Postgres: what is stored is exactly what happened."""

import json
import re
import signal
import uuid

import pytest
from feeds import TABLE

from changefeed.stream import COLLECT_EVERY_BATCHES

ROW = (
    f"INSERT INTO {TABLE} (id, title, notes, done, created_at, updated_at) "
    "VALUES (%s, %s, '', false, now(), now()) RETURNING 'insert' AS op, id::text, title"
)
UPDATE = f"UPDATE {TABLE} SET done = true WHERE id = %s RETURNING 'update' AS op, id::text, title"
DELETE = f"DELETE FROM {TABLE} WHERE id = %s RETURNING 'delete' AS op, id::text, title"
QUALIFIED = f"public.{TABLE}"


def new_id():
    return str(uuid.uuid4())


def history_of(events):
    return [
        (event["operation"], (event["primary_key"] or {}).get("id"), event["table_name"])
        for event in events
    ]


def expected(results):
    return [(row["op"], row["id"], QUALIFIED) for row in results]


def consume(feed, *args, env=None):
    result = feed.manage("consume_changes", "--idle-timeout", "1", "-v", "0", *args, env=env)
    assert result.returncode == 0, result.stderr
    return result


def test_the_store_holds_every_change_in_commit_order(feed):
    assert feed.manage("changefeed_slot", "create").returncode == 0
    a, b, c = new_id(), new_id(), new_id()
    happened = []
    happened += feed.transaction((ROW, [a, "a"]), (ROW, [b, "b"]))
    happened += feed.transaction((UPDATE, [a]))
    happened += feed.transaction((ROW, [c, "c"]), (UPDATE, [c]), (DELETE, [b]))
    feed.sql(f"ALTER TABLE {TABLE} REPLICA IDENTITY FULL")
    happened += feed.transaction((UPDATE, [c]))
    happened += feed.transaction((DELETE, [c]))
    feed.sql(f"TRUNCATE {TABLE}")

    consume(feed)

    events = feed.events()
    assert history_of(events) == [*expected(happened), ("truncate", None, QUALIFIED)]
    # Ordered by commit, then by position inside each transaction.
    keys = [(event["commit_lsn"], event["position"]) for event in events]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    by_operation = {(e["operation"], (e["primary_key"] or {}).get("id")): e for e in events}
    assert by_operation[("insert", a)]["new"]["title"] == "a"
    # Default replica identity: an update sends no old row, a delete only the key.
    assert by_operation[("update", a)]["old"] is None
    assert by_operation[("delete", b)]["old"] == {"id": b}
    # REPLICA IDENTITY FULL (what Electric sets on electrified tables): whole old rows.
    full_delete = events[-2]
    assert full_delete["operation"] == "delete" and full_delete["old"]["title"] == "c"
    assert full_delete["old"]["done"] is True


def test_a_restart_resumes_after_the_last_stored_transaction(feed):
    ids = [new_id() for _ in range(5)]
    happened = []
    feed.manage("changefeed_slot", "create")
    for row_id in ids:
        happened += feed.transaction((ROW, [row_id, row_id[:8]]))

    consume(feed, "--max-events", "2")
    assert history_of(feed.events()) == expected(happened[:2])

    consume(feed)
    happened += feed.transaction((UPDATE, [ids[0]]))
    consume(feed)

    assert history_of(feed.events()) == expected(happened)


def test_a_stopped_consumer_leaves_the_slot_at_its_last_stored_commit(feed):
    feed.manage("changefeed_slot", "create")
    feed.transaction((ROW, [new_id(), "x"]))

    consume(feed)

    checkpoint = feed.checkpoint()
    assert checkpoint > max(event["commit_lsn"] for event in feed.events())
    slot = feed.slot()
    assert slot["active_pid"] is None
    # Acknowledged up to the stored commit; more only if nothing of ours came after it.
    assert slot["confirmed"] >= checkpoint
    later = feed.transaction((ROW, [new_id(), "later"]))
    consume(feed)
    assert history_of(feed.events())[-1] == expected(later)[0]
    assert len(feed.events()) == 2


def test_sigterm_finishes_the_batch_in_hand_acknowledges_and_exits_0(feed):
    consumer = feed.start("consume_changes")
    feed.wait_for(feed.slot, what="the consumer to create its slot")
    happened = feed.transaction(*[(ROW, [new_id(), f"t{i}"]) for i in range(50)])
    feed.wait_for(lambda: len(feed.events()) == 50, what="50 events")

    consumer.send_signal(signal.SIGTERM)
    _, stderr = consumer.communicate(timeout=30)

    assert consumer.returncode == 0, stderr
    assert "Consumed 50 change events" in stderr
    assert history_of(feed.events()) == expected(happened)
    assert feed.slot()["confirmed"] >= feed.checkpoint()


def test_sigkill_mid_batch_then_restart_loses_and_duplicates_nothing(feed):
    feed.manage("changefeed_slot", "create")
    happened = []
    for batch in range(60):
        happened += feed.transaction(*[(ROW, [new_id(), f"{batch}-{i}"]) for i in range(200)])

    # Small batches: the backlog takes the consumer well over a second, so the kill lands inside.
    consumer = feed.start("consume_changes", "--batch-size", "100", "-v", "0")
    feed.wait_for(lambda: feed.checkpoint(), what="a first stored batch")
    consumer.send_signal(signal.SIGKILL)
    consumer.communicate(timeout=30)
    stored_at_kill = len(feed.events())
    assert 0 < stored_at_kill < len(happened), "the kill should land mid-backlog"

    feed.wait_for(lambda: feed.slot()["active_pid"] is None, what="the slot to be released")
    consume(feed)

    assert history_of(feed.events()) == expected(happened)


def test_progress_goes_to_stderr_unless_quiet(feed):
    feed.manage("changefeed_slot", "create")
    for batch in range(20):
        feed.transaction(*[(ROW, [new_id(), f"{batch}-{i}"]) for i in range(200)])

    loud = feed.manage(
        "consume_changes", "--idle-timeout", "1", "--progress-every", "0.01", "--batch-size", "200"
    )
    feed.transaction((ROW, [new_id(), "one more"]))
    quiet = feed.manage("consume_changes", "--idle-timeout", "1", "-v", "0")

    assert loud.returncode == 0 and quiet.returncode == 0
    assert re.search(r"^\d+ events stored, \d+/s, lag [\d,.]+ (bytes|MB)$", loud.stderr, re.M)
    assert "Consumed 4000 change events" in loud.stderr
    assert (loud.stdout, quiet.stdout, quiet.stderr) == ("", "", "")


def test_the_jsonl_sink_prints_one_object_per_change(feed):
    feed.manage("changefeed_slot", "create")
    row_id = new_id()
    feed.transaction((ROW, [row_id, "json"]), (UPDATE, [row_id]))

    result = consume(feed, "--sink", "jsonl")

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["operation"], line["primary_key"]) for line in lines] == [
        ("insert", {"id": row_id}),
        ("update", {"id": row_id}),
    ]
    assert set(lines[0]) == {
        "slot",
        "lsn",
        "commit_lsn",
        "position",
        "xid",
        "commit_time",
        "table_name",
        "operation",
        "primary_key",
        "old",
        "new",
        "unchanged_toast",
    }
    assert lines[0]["new"]["title"] == "json" and lines[1]["new"]["done"] is True
    assert feed.events() == []  # jsonl stores nothing


HANDLED = "SELECT handler, changes FROM handled ORDER BY id"


def test_handlers_run_in_order_inside_the_stores_transaction(feed):
    feed.sql("CREATE TABLE handled (id serial, handler text, xid bigint, changes int)")
    feed.manage("changefeed_slot", "create")
    a, b = new_id(), new_id()
    feed.transaction((ROW, [a, "one"]), (ROW, [b, "two"]))
    feed.transaction((UPDATE, [a]), (DELETE, [b]))
    handlers = [
        "tests.changefeed.handlers.count_changes",
        "tests.changefeed.handlers.count_inserts",
    ]

    # The second handler fails: the first one's writes are rolled back with the batch.
    failed = feed.manage(
        "consume_changes",
        "--idle-timeout",
        "1",
        *("--handler", handlers[0], "--handler", "tests.changefeed.handlers.fail"),
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == (
        "CommandError: Handler tests.changefeed.handlers.fail failed, so nothing of its batch "
        "was stored: RuntimeError: handler refused the transaction"
    )
    assert feed.events() == [] and feed.checkpoint() is None
    assert feed.sql(HANDLED) == []

    # CHANGEFEED_HANDLERS: both, in order, once per transaction, even when run twice.
    env = {"CHANGEFEED_HANDLERS": ",".join(handlers)}
    consume(feed, env=env)
    consume(feed, env=env)

    assert [(row["handler"], row["changes"]) for row in feed.sql(HANDLED)] == [
        ("count_changes", 2),
        ("count_inserts", 2),
        ("count_changes", 2),
        ("count_inserts", 0),
    ]
    assert len(feed.events()) == 4


def test_handler_options_replace_the_setting(feed):
    feed.sql("CREATE TABLE handled (id serial, handler text, xid bigint, changes int)")
    feed.manage("changefeed_slot", "create")
    feed.transaction((ROW, [new_id(), "one"]))

    consume(
        feed,
        *("--handler", "tests.changefeed.handlers.count_inserts"),
        env={"CHANGEFEED_HANDLERS": "tests.changefeed.handlers.fail"},
    )

    assert [row["handler"] for row in feed.sql(HANDLED)] == ["count_inserts"]


def test_reference_cycles_a_handler_leaves_are_collected(feed):
    # Automatic garbage collection is off while streaming; the stream collects every few batches.
    feed.sql("CREATE TABLE cycles (alive int)")
    feed.manage("changefeed_slot", "create")
    for number in range(3 * COLLECT_EVERY_BATCHES):
        feed.transaction((ROW, [new_id(), f"cycle {number}"]))

    consume(feed, "--batch-size", "1", "--handler", "tests.changefeed.handlers.leave_a_cycle")

    alive = [row["alive"] for row in feed.sql("SELECT alive FROM cycles")]
    assert len(alive) == 3 * COLLECT_EVERY_BATCHES
    # One batch per transaction: at most a collection interval's worth, plus the batches queued.
    assert max(alive) <= COLLECT_EVERY_BATCHES + 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tables", "nope"], "Table 'nope' does not exist in database 'default'"),
        (["--tables", "changefeed_changeevent"], "is the change feed's own event store"),
        (["--handler", "no.such.handler"], "Cannot use handler 'no.such.handler'"),
        (["--sink", "jsonl", "--handler", "x.y"], "--handler runs inside the store's transaction"),
        (["--slot", "electric_replication_out_x"], "is Electric's own slot"),
        (["--publication", "electric_publication"], "is Electric's own publication"),
        (["--slot", "Bad-Name"], "slot name 'Bad-Name' must be 1 to 63 lower-case letters"),
        (["--database", "nope"], "Unknown database alias 'nope'"),
    ],
)
def test_bad_options_are_refused_in_one_line(feed, args, message):
    result = feed.manage("consume_changes", "--idle-timeout", "1", *args)

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: ") and message in line, line


def test_a_slot_of_another_plugin_is_refused(feed):
    feed.sql("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", [feed.slot_name])

    result = feed.manage("consume_changes", "--idle-timeout", "1")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"CommandError: Replication slot {feed.slot_name!r} uses the 'test_decoding' plugin, "
        "not pgoutput: choose another --slot, or drop that slot if nothing else needs it."
    )


def test_a_role_without_replication_is_told_how_to_fix_it(feed):
    role = f"reader_{uuid.uuid4().hex[:8]}"
    feed.sql(f"CREATE ROLE {role} LOGIN PASSWORD 'secret'")
    feed.sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        url = feed.url(user=role, password="secret")
        result = feed.manage("consume_changes", "--idle-timeout", "1", env={"DATABASE_URL": url})
    finally:
        feed.sql(f"DROP OWNED BY {role}; DROP ROLE {role}")

    assert result.returncode == 1
    assert f"Role '{role}' may not start replication: run `ALTER ROLE {role} REPLICATION;`" in (
        result.stderr
    )


def test_a_lost_slot_is_never_silently_recreated(feed):
    feed.manage("changefeed_slot", "create")
    feed.transaction((ROW, [new_id(), "x"]))
    consume(feed)
    feed.sql("SELECT pg_drop_replication_slot(%s)", [feed.slot_name])  # someone else drops it

    result = feed.manage("consume_changes", "--idle-timeout", "1")

    assert result.returncode == 1
    assert f"Replication slot {feed.slot_name!r} is gone, but changes are stored up to" in (
        result.stderr
    )
    assert "Re-snapshot the tables" in result.stderr
    assert feed.slot() is None
