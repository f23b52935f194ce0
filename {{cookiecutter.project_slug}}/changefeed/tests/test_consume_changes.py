"""consume_changes against a real Postgres: what is stored is exactly what happened."""

import json
import re
import signal
import uuid

import pytest

from changefeed.stream import COLLECT_EVERY_BATCHES
from changefeed.tests.source_databases import TABLE

# Deep: consume_changes in subprocesses, every option and outcome.
# Left out of the default run; `pytest -m deep` runs it.
pytestmark = pytest.mark.deep

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


def consume(source, *args, env=None):
    result = source.manage("consume_changes", "--idle-timeout", "1", "-v", "0", *args, env=env)
    assert result.returncode == 0, result.stderr
    return result


def test_the_store_holds_every_change_in_commit_order(source):
    assert source.manage("changefeed_slot", "create").returncode == 0
    a, b, c = new_id(), new_id(), new_id()
    happened = []
    happened += source.transaction((ROW, [a, "a"]), (ROW, [b, "b"]))
    happened += source.transaction((UPDATE, [a]))
    happened += source.transaction((ROW, [c, "c"]), (UPDATE, [c]), (DELETE, [b]))
    source.sql(f"ALTER TABLE {TABLE} REPLICA IDENTITY FULL")
    happened += source.transaction((UPDATE, [c]))
    happened += source.transaction((DELETE, [c]))
    source.sql(f"TRUNCATE {TABLE}")

    consume(source)

    events = source.events()
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


def test_a_restart_resumes_after_the_last_stored_transaction(source):
    ids = [new_id() for _ in range(5)]
    happened = []
    source.manage("changefeed_slot", "create")
    for row_id in ids:
        happened += source.transaction((ROW, [row_id, row_id[:8]]))

    consume(source, "--max-events", "2")
    assert history_of(source.events()) == expected(happened[:2])

    consume(source)
    happened += source.transaction((UPDATE, [ids[0]]))
    consume(source)

    assert history_of(source.events()) == expected(happened)


def test_a_stopped_consumer_leaves_the_slot_at_its_last_stored_commit(source):
    source.manage("changefeed_slot", "create")
    source.transaction((ROW, [new_id(), "x"]))

    consume(source)

    checkpoint = source.checkpoint()
    assert checkpoint > max(event["commit_lsn"] for event in source.events())
    slot = source.slot()
    assert slot["active_pid"] is None
    # Acknowledged up to the stored commit; more only if nothing of ours came after it.
    assert slot["confirmed"] >= checkpoint
    later = source.transaction((ROW, [new_id(), "later"]))
    consume(source)
    assert history_of(source.events())[-1] == expected(later)[0]
    assert len(source.events()) == 2


def test_sigterm_finishes_the_batch_in_hand_acknowledges_and_exits_0(source):
    consumer = source.start("consume_changes")
    source.wait_for(source.slot, what="the consumer to create its slot")
    happened = source.transaction(*[(ROW, [new_id(), f"t{i}"]) for i in range(50)])
    source.wait_for(lambda: len(source.events()) == 50, what="50 events")

    consumer.send_signal(signal.SIGTERM)
    _, stderr = consumer.communicate(timeout=30)

    assert consumer.returncode == 0, stderr
    assert "Consumed 50 change events" in stderr
    assert history_of(source.events()) == expected(happened)
    assert source.slot()["confirmed"] >= source.checkpoint()


def test_sigkill_mid_batch_then_restart_loses_and_duplicates_nothing(source):
    source.manage("changefeed_slot", "create")
    happened = []
    for batch in range(60):
        happened += source.transaction(*[(ROW, [new_id(), f"{batch}-{i}"]) for i in range(200)])

    # Small batches: the backlog takes the consumer well over a second, so the kill lands inside.
    consumer = source.start("consume_changes", "--batch-size", "100", "-v", "0")
    source.wait_for(lambda: source.checkpoint(), what="a first stored batch")
    consumer.send_signal(signal.SIGKILL)
    consumer.communicate(timeout=30)
    stored_at_kill = len(source.events())
    assert 0 < stored_at_kill < len(happened), "the kill should land mid-backlog"

    source.wait_for(lambda: source.slot()["active_pid"] is None, what="the slot to be released")
    consume(source)

    assert history_of(source.events()) == expected(happened)


def test_progress_goes_to_stderr_unless_quiet(source):
    source.manage("changefeed_slot", "create")
    for batch in range(20):
        source.transaction(*[(ROW, [new_id(), f"{batch}-{i}"]) for i in range(200)])

    loud = source.manage(
        "consume_changes", "--idle-timeout", "1", "--progress-every", "0.01", "--batch-size", "200"
    )
    source.transaction((ROW, [new_id(), "one more"]))
    quiet = source.manage("consume_changes", "--idle-timeout", "1", "-v", "0")

    assert loud.returncode == 0 and quiet.returncode == 0
    assert re.search(r"^\d+ events stored, \d+/s, lag [\d,.]+ (bytes|MB)$", loud.stderr, re.M)
    assert "Consumed 4000 change events" in loud.stderr
    assert (loud.stdout, quiet.stdout, quiet.stderr) == ("", "", "")


def test_the_jsonl_sink_prints_one_object_per_change(source):
    source.manage("changefeed_slot", "create")
    row_id = new_id()
    source.transaction((ROW, [row_id, "json"]), (UPDATE, [row_id]))

    result = consume(source, "--sink", "jsonl")

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
    assert source.events() == []  # jsonl stores nothing


HANDLED = "SELECT handler, changes FROM handled ORDER BY id"


def test_handlers_run_in_order_inside_the_stores_transaction(source):
    source.sql("CREATE TABLE handled (id serial, handler text, xid bigint, changes int)")
    source.manage("changefeed_slot", "create")
    a, b = new_id(), new_id()
    source.transaction((ROW, [a, "one"]), (ROW, [b, "two"]))
    source.transaction((UPDATE, [a]), (DELETE, [b]))
    handlers = [
        "changefeed.tests.handlers.count_changes",
        "changefeed.tests.handlers.count_inserts",
    ]

    # The second handler fails: the first one's writes are rolled back with the batch.
    failed = source.manage(
        "consume_changes",
        "--idle-timeout",
        "1",
        *("--handler", handlers[0], "--handler", "changefeed.tests.handlers.fail"),
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == (
        "CommandError: Handler changefeed.tests.handlers.fail failed, so nothing of its batch "
        "was stored: RuntimeError: handler refused the transaction"
    )
    assert source.events() == [] and source.checkpoint() is None
    assert source.sql(HANDLED) == []

    # CHANGEFEED_HANDLERS: both, in order, once per transaction, even when run twice.
    env = {"CHANGEFEED_HANDLERS": ",".join(handlers)}
    consume(source, env=env)
    consume(source, env=env)

    assert [(row["handler"], row["changes"]) for row in source.sql(HANDLED)] == [
        ("count_changes", 2),
        ("count_inserts", 2),
        ("count_changes", 2),
        ("count_inserts", 0),
    ]
    assert len(source.events()) == 4


def test_handler_options_replace_the_setting(source):
    source.sql("CREATE TABLE handled (id serial, handler text, xid bigint, changes int)")
    source.manage("changefeed_slot", "create")
    source.transaction((ROW, [new_id(), "one"]))

    consume(
        source,
        *("--handler", "changefeed.tests.handlers.count_inserts"),
        env={"CHANGEFEED_HANDLERS": "changefeed.tests.handlers.fail"},
    )

    assert [row["handler"] for row in source.sql(HANDLED)] == ["count_inserts"]


def test_reference_cycles_a_handler_leaves_are_collected(source):
    # Automatic garbage collection is off while streaming; the stream collects every few batches.
    source.sql("CREATE TABLE cycles (alive int)")
    source.manage("changefeed_slot", "create")
    for number in range(3 * COLLECT_EVERY_BATCHES):
        source.transaction((ROW, [new_id(), f"cycle {number}"]))

    consume(source, "--batch-size", "1", "--handler", "changefeed.tests.handlers.leave_a_cycle")

    alive = [row["alive"] for row in source.sql("SELECT alive FROM cycles")]
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
        (["--database", "proxy"], "--database proxy is Electric's migrations proxy"),
        (["--tables", "public.items; drop table x"], "is not a table name (invalid name syntax"),
        (["--tables", "a.b.c.d"], "is not a table name (improper relation name"),
        (["--handler", "../../etc/passwd"], "not a dotted path to a function"),
    ],
)
def test_bad_options_are_refused_in_one_line(source, args, message):
    result = source.manage("consume_changes", "--idle-timeout", "1", *args)

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: ") and message in line, line


def test_a_hostile_table_name_is_a_name_never_sql(source):
    # A table whose name would end the quoted identifier and run a statement of its own.
    hostile = 'items"; drop table canary; --'
    source.sql("CREATE TABLE canary (id int)")
    source.sql(f'CREATE TABLE "{hostile.replace(chr(34), chr(34) * 2)}" (id int primary key)')

    quoted = '"' + hostile.replace('"', '""') + '"'
    result = source.manage("changefeed_slot", "create", "--tables", quoted)

    assert result.returncode == 0, result.stderr
    assert source.sql("SELECT count(*) AS n FROM canary") == [{"n": 0}]  # still there
    published = source.sql(
        "SELECT tablename FROM pg_publication_tables WHERE pubname = %s", [source.name]
    )
    assert [row["tablename"] for row in published] == [hostile]


def test_a_table_without_a_primary_key_is_refused_before_it_is_published(source):
    source.sql("CREATE TABLE nopk (n int)")

    result = source.manage("changefeed_slot", "create", "--tables", "nopk")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "CommandError: Table public.nopk has no primary key, so Postgres cannot say which row an "
        "update or delete changed (and would refuse both once it is published): give it a "
        'primary key, or, deliberately, `ALTER TABLE "public"."nopk" REPLICA IDENTITY FULL` '
        "(every change then carries the whole old row)."
    )
    assert source.sql("SELECT count(*) AS n FROM pg_publication") == [{"n": 0}]
    source.sql("UPDATE nopk SET n = 1")  # the app's own writes still work
    # REPLICA IDENTITY FULL, chosen deliberately, is accepted.
    source.sql("ALTER TABLE nopk REPLICA IDENTITY FULL")
    assert source.manage("changefeed_slot", "create", "--tables", "nopk").returncode == 0


@pytest.mark.parametrize(
    "command", [["consume_changes"], ["changefeed_slot", "status"], ["changefeed_snapshot", TABLE]]
)
def test_a_database_not_migrated_yet_is_told_to_migrate(source, command):
    source.sql("DROP TABLE changefeed_checkpoint, changefeed_snapshotprogress")

    result = source.manage(*command)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "CommandError: The change feed's tables (changefeed_checkpoint, "
        "changefeed_snapshotprogress) are not in database 'default' yet: run "
        "`./manage.py migrate --database=proxy` first."
    )


def test_a_slot_of_another_plugin_is_refused(source):
    source.sql("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", [source.slot_name])

    result = source.manage("consume_changes", "--idle-timeout", "1")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"CommandError: Replication slot {source.slot_name!r} uses the 'test_decoding' plugin, "
        "not pgoutput: choose another --slot, or drop that slot if nothing else needs it."
    )


def test_a_role_without_replication_is_told_how_to_fix_it(source):
    role = f"reader_{uuid.uuid4().hex[:8]}"
    source.sql(f"CREATE ROLE {role} LOGIN PASSWORD 'secret'")
    source.sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        url = source.url(user=role, password="secret")
        result = source.manage("consume_changes", "--idle-timeout", "1", env={"DATABASE_URL": url})
    finally:
        source.sql(f"DROP OWNED BY {role}; DROP ROLE {role}")

    assert result.returncode == 1
    assert f"Role '{role}' may not start replication: run `ALTER ROLE {role} REPLICATION;`" in (
        result.stderr
    )


def test_a_lost_slot_is_never_silently_recreated(source):
    source.manage("changefeed_slot", "create")
    source.transaction((ROW, [new_id(), "x"]))
    consume(source)
    source.sql("SELECT pg_drop_replication_slot(%s)", [source.slot_name])  # someone else drops it

    result = source.manage("consume_changes", "--idle-timeout", "1")

    assert result.returncode == 1
    assert f"Replication slot {source.slot_name!r} is gone, but changes are stored up to" in (
        result.stderr
    )
    assert source.slot() is None
    # Its instructions, followed, start a new slot; the rows come again as a snapshot's reads.
    steps = re.findall(r"`\./manage\.py ([^`]+)`", result.stderr)
    assert [step.split()[0] for step in steps] == ["changefeed_slot"] * 2 + ["changefeed_snapshot"]
    stored = len(source.events())
    for step in steps:
        args = step.replace("TABLE...", TABLE).split()
        assert source.manage(*args).returncode == 0, step
    consume(source)  # runs the snapshot
    source.transaction((ROW, [new_id(), "after"]))
    consume(source)
    rows = source.sql(f"SELECT count(*) AS n FROM {TABLE}")[0]["n"]
    operations = [event["operation"] for event in source.events()[stored:]]
    assert operations == ["read"] * (rows - 1) + ["insert"]
