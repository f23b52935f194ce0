"""The change feed under faults: nothing lost, nothing duplicated, order kept.

Each scenario compares the event store with the source table's full change history, which a
trigger records independently into an `audit` table (not published) in the same transactions.
Run them alone with `pytest -m faults`.
"""

import random
import re
import shlex
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
from pytest_postgresql import factories

from changefeed.tests.source_databases import TABLE, migrated_template, source_database
from tests.postgres import server_settings

pytestmark = pytest.mark.faults

AUDIT = f"""
CREATE TABLE audit (seq bigserial PRIMARY KEY, xid bigint, op text, id text);
CREATE FUNCTION audit_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit (xid, op, id)
    VALUES (txid_current(), lower(TG_OP), CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
    RETURN NULL;
END $$;
CREATE TRIGGER audit_changes AFTER INSERT OR UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_changes();
"""

# A server of their own for the scenarios that restart, stop or reconfigure it.
faults_proc = factories.postgresql_proc(
    postgres_options="-c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20"
)


class Writer(threading.Thread):
    """Commits transactions of 1 to 500 row changes (inserts, updates, deletes) until stopped,
    reconnecting when the server goes away, as an application would."""

    def __init__(self, url, seed):
        super().__init__(daemon=True)
        self.url = url
        self.random = random.Random(seed)
        self.live = []
        self.committed = 0
        self.stopped = threading.Event()

    def run(self):
        connection = None
        while not self.stopped.is_set():
            try:
                connection = connection or psycopg2.connect(self.url)
                self._one_transaction(connection)
                self.committed += 1
            except psycopg2.Error:
                connection = None  # the server restarts or dropped us: try again shortly
                time.sleep(0.2)
            time.sleep(self.random.uniform(0, 0.01))
        if connection is not None:
            connection.close()

    def _one_transaction(self, connection):
        size = self.random.choice([1, self.random.randint(2, 60), self.random.randint(100, 500)])
        inserts = [str(uuid.uuid4()) for _ in range(max(1, size * 6 // 10))]
        updates = self.random.sample(self.live, min(len(self.live), size * 3 // 10))
        deletes = self.random.sample(self.live, min(len(self.live), size // 10))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (id, title, notes, done, created_at, updated_at) "
                "SELECT id::uuid, 'row', '', false, now(), now() FROM unnest(%s::text[]) id",
                [inserts],
            )
            cursor.execute(
                f"UPDATE {TABLE} SET done = NOT done WHERE id = ANY(%s::uuid[])", [updates]
            )
            cursor.execute(f"DELETE FROM {TABLE} WHERE id = ANY(%s::uuid[])", [deletes])
        connection.commit()
        gone = set(deletes)
        self.live = [row for row in self.live if row not in gone] + inserts

    def stop(self):
        self.stopped.set()
        self.join(timeout=30)


def history(source):
    """What happened (the audit trigger) and what was stored, as comparable lists."""
    audit = [
        (row["xid"] % 2**32, row["op"], row["id"])
        for row in source.sql("SELECT xid, op, id FROM audit ORDER BY seq")
    ]
    stored = [
        (event["xid"], event["operation"], event["primary_key"]["id"]) for event in source.events()
    ]
    return audit, stored


def assert_exactly_once(source):
    """The store is the audit trail: every change once, in commit order. Returns its length."""
    audit, stored = history(source)
    assert audit, "the scenario should have changed something"
    duplicated = len(stored) - len(set(stored))
    lost = len(set(audit) - set(stored))
    assert (lost, duplicated) == (0, 0), f"{lost} changes lost, {duplicated} duplicated"
    assert stored == audit, "changes stored out of order"
    return len(audit)


def stop_once_caught_up(source, consumer):
    """Wait until the running consumer has stored all that happened, then SIGTERM it."""
    audit_length = len(history(source)[0])
    source.wait_for(lambda: len(source.events()) >= audit_length, what="the store to catch up")
    consumer.send_signal(signal.SIGTERM)
    _, stderr = consumer.communicate(timeout=30)
    assert consumer.returncode == 0, stderr
    return stderr


def drain(source, timeout=120):
    """Run a consumer until the store has caught up with the audit table."""
    result = source.manage("consume_changes", "--idle-timeout", "2", "-v", "0", timeout=timeout)
    assert result.returncode == 0, result.stderr


def audited(source):
    source.sql(AUDIT)
    source.manage("changefeed_slot", "create")
    return source


@pytest.fixture
def audited_source(source):
    return audited(source)


def test_crash_loop_20_sigkills_lose_and_duplicate_nothing(audited_source, record_property):
    source = audited_source
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    writer = Writer(source.url(), seed)
    writer.start()
    stored_at_kill = []
    try:
        for _ in range(20):
            killed_walsender = (source.slot() or {}).get("active_pid")
            consumer = source.start(
                "consume_changes", "--batch-size", str(rng.choice([50, 500, 5000])), "-v", "0"
            )
            # Kill at a random moment after it has started streaming: timed from its start, on a
            # busy machine every kill could land during Django's start-up instead.
            source.wait_for(
                lambda killed=killed_walsender: (
                    (source.slot() or {}).get("active_pid") not in (None, killed)
                ),
                what="the consumer to stream",
            )
            time.sleep(rng.uniform(0.0, 1.0))
            consumer.send_signal(signal.SIGKILL)
            consumer.communicate(timeout=30)
            stored_at_kill.append(len(source.events()))
    finally:
        writer.stop()
    drain(source)

    checked = assert_exactly_once(source)
    record_property("seed", seed)
    record_property("changes_checked", checked)
    print(f"seed {seed}: 20 SIGKILLs, {writer.committed} transactions, {checked} changes checked")
    # The kills landed while the consumer was working, not only before it started.
    assert len(set(stored_at_kill)) > 5, stored_at_kill


def test_a_terminated_walsender_is_survived_by_reconnecting(audited_source):
    source = audited_source
    writer = Writer(source.url(), seed=1)
    writer.start()
    consumer = source.start("consume_changes")
    try:
        for _ in range(2):
            source.wait_for(
                lambda: len(source.events()) > 0 and source.slot()["active_pid"],
                what="the consumer to stream",
            )
            before = len(source.events())
            source.sql(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                "WHERE slot_name = %s",
                [source.slot_name],
            )
            source.wait_for(
                lambda before=before: len(source.events()) > before, what="the consumer to resume"
            )
    finally:
        writer.stop()
    stderr = stop_once_caught_up(source, consumer)

    assert stderr.count("Replication interrupted") >= 2
    assert_exactly_once(source)


def test_a_handler_slower_than_wal_sender_timeout_keeps_its_connection(audited_source):
    source = audited_source
    source.transaction(
        *[(f"INSERT INTO {TABLE} VALUES (gen_random_uuid(), 'slow', '', false, now(), now())",)] * 3
    )
    # The server drops a replication connection silent for 2 s; the handler takes 5 s.
    url = source.url() + "?options=-c%20wal_sender_timeout%3D2s"

    result = source.manage(
        "consume_changes",
        "--idle-timeout",
        "1",
        "--handler",
        "changefeed.tests.handlers.slow",
        env={"DATABASE_URL": url},
    )

    assert result.returncode == 0, result.stderr
    assert "Replication interrupted" not in result.stderr
    assert_exactly_once(source)


def lag_bytes(text):
    """The last lag a progress line or `changefeed_slot status` printed, in bytes."""
    number, unit = re.findall(r"lag:? +([\d,.]+) (bytes|MB)$", text, re.M)[-1]
    return float(number.replace(",", "")) * (1e6 if unit == "MB" else 1)


def test_an_idle_feed_lets_postgres_recycle_wal(audited_source):
    source = audited_source
    source.sql("CREATE TABLE noise (payload text)")  # not published: nothing for the change feed
    source.sql(
        "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [f"{source.name}_unread"]
    )
    consumer = source.start("consume_changes", "--status-interval", "1", "--progress-every", "0.5")
    source.wait_for(lambda: (source.slot() or {}).get("active_pid"), what="the consumer to stream")
    start = source.sql("SELECT pg_current_wal_lsn() AS lsn")[0]["lsn"]
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        source.sql(
            "INSERT INTO noise SELECT repeat(md5(random()::text), 32) FROM generate_series(1, 2000)"
        )
    time.sleep(3)  # a few status intervals

    retained = {
        row["slot_name"]: row
        for row in source.sql(
            "SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint AS generated, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS unconfirmed "
            "FROM pg_replication_slots WHERE database = %s",
            [start, source.name],
        )
    }
    status = source.manage("changefeed_slot", "status")
    consumer.send_signal(signal.SIGTERM)
    _, progress = consumer.communicate(timeout=30)

    ours, unread = retained[source.slot_name], retained[f"{source.name}_unread"]
    assert ours["generated"] > 20_000_000, "the test should have written plenty of WAL"
    # The slot nobody reads holds all of it back; the idle consumer's slot almost nothing.
    assert unread["unconfirmed"] >= ours["generated"]
    assert ours["unconfirmed"] < ours["generated"] // 10, ours
    # One lag: the consumer's progress and `changefeed_slot status` both say it is small (the
    # progress once said it grew with every byte of WAL while the slot had confirmed it).
    assert lag_bytes(status.stdout) < ours["generated"] // 10, status.stdout
    assert lag_bytes(progress) < ours["generated"] // 10, progress


# --- Scenarios on a server of their own: restarted, stopped, reconfigured ---------------------


@pytest.fixture(scope="module")
def faults_server(request):
    proc = request.getfixturevalue("faults_proc")
    return {**server_settings(proc), "proc": proc}


@pytest.fixture(scope="module")
def faults_template(faults_server):
    with migrated_template(faults_server) as name:
        yield name


@pytest.fixture
def own_server_source(faults_server, faults_template):
    with source_database(faults_server, faults_template) as source:
        yield audited(source)


def pg_ctl(proc, *args):
    # The server's output goes to its log file: a pipe here would stay open as long as it runs.
    subprocess.run(
        [proc.executable, *args, "-D", proc.datadir, "-w", "-l", proc.logfile],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )


def start_again(proc):
    """pg_ctl start with the options the server last ran with (postmaster.opts)."""
    options = shlex.split(Path(proc.datadir, "postmaster.opts").read_text())[1:]
    pg_ctl(proc, "start", "-o", shlex.join(options))


def test_a_postgres_restart_mid_stream_is_survived(own_server_source, faults_server):
    source = own_server_source
    writer = Writer(source.url(), seed=2)
    writer.start()
    consumer = source.start("consume_changes")
    try:
        source.wait_for(lambda: len(source.events()) > 500, what="the consumer to stream")
        pg_ctl(faults_server["proc"], "restart", "-m", "fast")
        source.reconnect()
        before = len(source.events())
        source.wait_for(
            lambda: len(source.events()) > before,
            timeout=90,
            what="the consumer to resume after the restart",
        )
    finally:
        writer.stop()
    stderr = stop_once_caught_up(source, consumer)

    assert "Replication interrupted" in stderr
    assert_exactly_once(source)


def test_a_server_that_stays_down_ends_the_consumer_with_a_clear_error(
    own_server_source, faults_server
):
    source = own_server_source
    proc = faults_server["proc"]
    consumer = source.start("consume_changes", "--max-downtime", "3")
    source.wait_for(lambda: (source.slot() or {}).get("active_pid"), what="the consumer to stream")
    source.connection.close()
    pg_ctl(proc, "stop", "-m", "fast")
    try:
        started = time.monotonic()
        _, stderr = consumer.communicate(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        start_again(proc)
        source.reconnect()

    assert consumer.returncode == 1
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith("CommandError: Could not stream from Postgres for ")
    assert "(limit --max-downtime 3s)" in last_line
    assert elapsed < 30


def test_an_invalidated_slot_stops_the_consumer_with_instructions(own_server_source):
    source = own_server_source
    source.transaction(
        (f"INSERT INTO {TABLE} VALUES (gen_random_uuid(), 'a', '', false, now(), now())",)
    )
    drain(source)
    source.sql("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
    source.sql("SELECT pg_reload_conf()")
    try:
        source.sql("CREATE TABLE noise (payload text)")
        for _ in range(4):  # several WAL segments past the slot
            source.sql("INSERT INTO noise VALUES ('x')")
            source.sql("SELECT pg_switch_wal()")
        source.sql("CHECKPOINT")
        source.wait_for(
            lambda: (
                source.sql(
                    "SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s",
                    [source.slot_name],
                )[0]["wal_status"]
                == "lost"
            ),
            what="the slot to be invalidated",
        )
        result = source.manage("consume_changes", "--idle-timeout", "1")
    finally:
        source.sql("ALTER SYSTEM RESET max_slot_wal_keep_size")
        source.sql("SELECT pg_reload_conf()")

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert f"Replication slot {source.slot_name!r} was invalidated" in line
    assert f"`./manage.py changefeed_slot drop --slot {source.slot_name}`" in line
