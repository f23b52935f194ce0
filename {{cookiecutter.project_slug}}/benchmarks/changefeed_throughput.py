"""How fast consume_changes drains a backlog, and in how much memory, next to pg_recvlogical.

    python benchmarks/changefeed_throughput.py postgres://postgres:secret@localhost:5432/postgres

It races what a user would run instead. The URL names a server with wal_level=logical, and its
superuser `postgres` (the migrations run through the `proxy` alias, which connects as `postgres`,
as Electric's proxy does; the benchmark also runs CHECKPOINT). It works in a scratch database of
its own, dropped afterwards.
It builds a backlog of row changes (inserts, updates and deletes of a table of its own, shaped
like the sample app's `items`, 100 per transaction) behind a replication slot, then drains a fresh
copy of that slot with each contender:

- pgoutput: PostgreSQL's own client, pg_recvlogical, writing the raw pgoutput stream to
  /dev/null, one write per message: the reference that every other time is divided by;
- wal2json: pg_recvlogical on a wal2json copy of the slot (`-o format-version=2`), JSON built by
  the C plugin in the server, to /dev/null: what a user would run instead of the jsonl sink. Left
  out, in one line, when the server has no wal2json (Debian: postgresql-15-wal2json);
- consume_changes --sink jsonl: decoded, printed as JSON lines to /dev/null;
- consume_changes --sink store: decoded, stored as ChangeEvents, checkpointed;
- consume_changes --sink redis: decoded, added to Redis streams, exactly once. Against
  --redis-url, or else a redis-server of its own (found on PATH, with the append-only file fsynced
  on every write, as the sink requires); left out when there is neither. It writes streams named
  after --name only, and deletes them before each run.

and three parts of the consumers' time, measured alone, which say how close to the floor a
consumer can come on this machine:

- server decoding (SQL): the server decoding the same changes with pgoutput and no client at all
  (psql counting the rows of pg_logical_slot_get_binary_changes on a copy of the slot). With
  start-up, the floor of every consumer: pg_recvlogical's own writes can make it slower than a
  consumer that writes a batch at a time;
- start-up: `manage.py consume_changes --help`, Python and Django starting, before any
  connection. The server starts decoding only once a consumer has asked it to;
- store ingest: psql \\copy of the same ChangeEvents (those of an untimed store run, from a
  file) into the table: the server's own work of storing them, which the store sink adds to the
  decoding on the same two cores.

With --baseline DIR, another copy of this project (an earlier commit, say) runs its own sinks as
extra contenders in the same rounds, and each of this project's sinks prints its ratio to the
baseline's: a change's effect, measured on the same backlog at the same time.

Each of --rounds rounds runs every contender once, in rotating order, and each contender's median
time counts (with an even number of rounds, the lower middle one): on a shared machine a single
run can be off by a third either way. It prints the times as ratios to pgoutput's and wal2json's,
the CPU time of each process's median run and, for the Python processes, the peak memory (the
highest of their runs; a child's peak includes this script's memory at its start, which only
Python processes exceed); with --memory it repeats at a larger size (1,000,000 changes unless it
says otherwise) and prints how much the consumer's peak grew.

Goals: jsonl <= 1.0x wal2json; store and redis <= 1.2x jsonl; and the consumer's memory flat
(no more than 10 MB more at 1,000,000 changes than at 200,000). A goal that is met prints "ok".

Last, per change and past start-up, each sink's CPU next to the wall time its goal leaves per
change, with, during the sink's median run, the CPU of the walsender that streamed to it (read
from /proc: only when the server runs on this machine) and redis-server's. A consumer's Python
runs one thread at a time (the GIL), so a sink whose CPU per change is well above what its goal
leaves cannot meet the goal by overlapping its work with the server's: it has to do less per
change. And for the store and redis sinks, the least time their work can take on this machine:
the walsender's CPU (for a server elsewhere, the decoding in SQL, which leaves out the sending),
the sink's CPU and its writes (the ingest; redis-server's CPU), shared out over its cores (or the
longest of them, if more), after start-up. A goal below that needs less work, or more cores.

Run it with the project's production requirements installed, as the consumer runs in production
(with the development requirements, Django's own queries go through psycopg 3 instead).
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import NamedTuple

import psycopg2
import psycopg2.errors
import redis

PROJECT = Path(__file__).resolve().parent.parent
# The scratch database, its publication and its slot (never read: each run drains a copy).
DEFAULT_NAME = "changefeed_benchmark"
# Besides the sinks: pg_recvlogical's two runs (pgoutput on the slot, wal2json on a copy of it),
# and the three parts measured alone.
CONTENDERS = ("pgoutput", "wal2json", "decoding", "start-up", "ingest")
SINKS = ("jsonl", "store", "redis")
NAMES = {
    "pgoutput": "pg_recvlogical pgoutput",
    "wal2json": "pg_recvlogical wal2json",
    "decoding": "server decoding (SQL)",
    "start-up": "start-up (--help)",
    "ingest": "store ingest (COPY)",
}
# The columns the store sink's COPY fills (changefeed.sinks.store.COPY_EVENTS: this script runs
# without Django, so it cannot import them).
EVENT_COLUMNS = (
    "slot, commit_lsn, xid, commit_time, lsn, position, table_name, operation, primary_key, old, "
    "new, unchanged_toast"
)
TRANSACTION_SIZE = 100  # 60 inserts, 30 updates of those rows, 10 deletes of them
# The benchmark's own table, so that it runs whatever apps the project has.
TABLE = "benchmark_rows"
CREATE_TABLE = f"""
CREATE TABLE {TABLE} (
    id uuid PRIMARY KEY,
    title text NOT NULL,
    notes text NOT NULL,
    done boolean NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
)
"""
# Each sink's goal: at most this many times another contender's median, in the same run.
GOALS = {"jsonl": ("wal2json", 1.0), "store": ("jsonl", 1.2), "redis": ("jsonl", 1.2)}
# How much more memory a consumer may use at 1,000,000 changes than at 200,000: flat.
MEMORY_GROWTH_GOAL_MB = 10
# The snapshot benchmark's memory goal (it holds a chunk at a time).
MEMORY_GOAL_MB = 25
# The least backlog the goals are judged at: on a smaller one, start-up weighs on every ratio.
JUDGED_FROM = 200_000
BASELINE = "@baseline"  # the suffix of a --baseline project's contenders
C_PROGRAMS = ("pgoutput", "wal2json", "decoding", "ingest")  # pg_recvlogical and psql


def redacted(url):
    """The URL without its password, to print."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def with_database(url, name):
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(path=f"/{name}"))


def manage_environment(url):
    parts = urllib.parse.urlsplit(url)
    return {
        **os.environ,
        "DATABASE_URL": url,
        # Migrations go through the `proxy` alias; here it is the same server, and no Electric.
        "ELECTRIC_PROXY_HOST": parts.hostname or "localhost",
        "ELECTRIC_PROXY_PORT": str(parts.port or 5432),
        "PG_PROXY_PASSWORD": urllib.parse.unquote(parts.password or ""),
        "ELECTRIC_SKIP_DDLX": "true",
    }


def connect(url):
    connection = psycopg2.connect(url)
    connection.autocommit = True
    return connection


def admin(url, *statements):
    """Statements that may not run in a transaction block (DROP DATABASE, say)."""
    connection = connect(url)
    try:
        with connection.cursor() as cursor:
            for statement, *params in statements:
                cursor.execute(statement, *params)
    finally:
        connection.close()


def drop_slots(url, where, params):
    """Drop the slots `where` selects. A consumer that has just exited may hold its slot a
    moment longer, while its walsender winds down: wait for it."""
    deadline = time.monotonic() + 30
    while True:
        try:
            admin(
                url,
                (
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "  # noqa: S608
                    f"WHERE {where}",
                    params,
                ),
            )
            return
        except psycopg2.errors.ObjectInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def build_backlog(url, name, changes):
    """A scratch database, a slot, then `changes` row changes after it."""
    admin(
        url,
        (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",),
        (f"CREATE DATABASE {name}",),
    )
    bench_url = with_database(url, name)
    # --skip-checks: CHANGEFEED_TABLES may name tables of the project that this scratch database
    # is not about; the benchmark's table is created below and passed as --tables.
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--database=proxy", "--skip-checks", "-v", "0"],
        cwd=PROJECT,
        env=manage_environment(bench_url),
        capture_output=True,
        text=True,
    )
    if migrated.returncode != 0:
        raise SystemExit(f"Migrating the scratch database failed:\n{migrated.stderr}")
    connection = connect(bench_url)
    with connection.cursor() as cursor:
        cursor.execute(CREATE_TABLE)
        cursor.execute(f"CREATE PUBLICATION {name} FOR TABLE {TABLE}")
        cursor.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [name])
    connection.autocommit = False
    with connection.cursor() as cursor:
        for _ in range(changes // TRANSACTION_SIZE):
            ids = [str(uuid.uuid4()) for _ in range(60)]
            cursor.execute(
                "INSERT INTO benchmark_rows (id, title, notes, done, created_at, updated_at) "
                "SELECT id::uuid, 'row ' || id, 'some notes', false, now(), now() "
                "FROM unnest(%s::text[]) AS id",
                [ids],
            )
            cursor.execute(
                "UPDATE benchmark_rows SET done = true, updated_at = now() "
                "WHERE id = ANY(%s::uuid[])",
                [ids[:30]],
            )
            cursor.execute("DELETE FROM benchmark_rows WHERE id = ANY(%s::uuid[])", [ids[30:40]])
            connection.commit()
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        (end_lsn,) = cursor.fetchone()
    connection.close()
    return bench_url, end_lsn


class Run(NamedTuple):
    """One process's run."""

    seconds: float
    peak_mb: float
    cpu_seconds: float
    """User and system CPU of the process, all its threads."""
    redis_cpu_seconds: float = 0.0
    """redis-server's CPU meanwhile (the redis sink's runs only)."""
    walsender_cpu_seconds: float | None = None
    """The CPU of the server's walsender that streamed to a sink, when the server runs here."""


def run_measured(command, **kwargs) -> Run:
    """Wall time, peak resident memory and CPU time of one process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, **kwargs)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed with exit code {process.returncode}")
    # ru_maxrss is in kilobytes on Linux.
    return Run(elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def fastest(runs):
    return min(runs, key=lambda run: run.seconds)


def median_run(runs):
    """The run of median time (the lower middle one of an even number), so that its CPU time
    goes with it."""
    return sorted(runs, key=lambda run: run.seconds)[(len(runs) - 1) // 2]


def psql(url, command):
    binary = shutil.which("psql")
    if binary is None:
        raise SystemExit("psql not found: install PostgreSQL's client programs.")
    return run_measured([binary, "-X", "-q", url, "-c", command])


def decode_in_sql(bench_url, publication, slot, end_lsn):
    """The server decoding the slot's changes up to end_lsn with pgoutput, for no client."""
    # Names of --name's pattern, and an LSN the server printed: nothing to quote.
    changes = f"pg_logical_slot_get_binary_changes('{slot}', '{end_lsn}', NULL, 'proto_version', "
    changes += f"'1', 'publication_names', '{publication}')"
    return psql(bench_url, f"SELECT count(*) FROM {changes}")  # noqa: S608


def ingest_events(url, events_file):
    """The server alone storing ChangeEvents from a file in COPY's format (psql \\copy)."""
    return psql(url, f"\\copy changefeed_changeevent ({EVENT_COLUMNS}) from '{events_file}'")


def value_of(url, query):
    """The one value a query returns."""
    connection = connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchone()[0]
    finally:
        connection.close()


def stored_events(url):
    return value_of(url, "SELECT count(*) FROM changefeed_changeevent")


def start_up(bench_url):
    return run_measured(
        [sys.executable, "manage.py", "consume_changes", "--help"],
        cwd=PROJECT,
        env=manage_environment(bench_url),
    )


def is_superuser(url):
    return value_of(url, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")


def check_redis(url):
    """One line, before any work, for a Redis that cannot be used."""
    try:
        client = redis.Redis.from_url(url)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.exceptions.RedisError, ValueError) as error:
        raise SystemExit(f"Cannot use --redis-url {redacted(url)}: {error}") from None


def has_wal2json(url):
    """Whether the server can load the wal2json output plugin (a temporary slot says)."""
    connection = connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_create_logical_replication_slot(%s, 'wal2json', true)",
                [f"wal2json_probe_{uuid.uuid4().hex[:8]}"],
            )
        return True
    except psycopg2.errors.UndefinedFile:  # could not access file "wal2json"
        return False
    finally:
        connection.close()  # drops the temporary slot


def find_pg_recvlogical():
    """On PATH, or next to the server programs pg_config names (Debian keeps them off PATH)."""
    binary = shutil.which("pg_recvlogical")
    if binary is None and shutil.which("pg_config"):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout
        binary = shutil.which("pg_recvlogical", path=bindir.strip())
    if binary is None:
        raise SystemExit("pg_recvlogical not found: install PostgreSQL's client programs.")
    return binary


def pg_recvlogical(bench_url, publication, slot, end_lsn, plugin="pgoutput"):
    binary = find_pg_recvlogical()
    if plugin == "pgoutput":
        options = ("proto_version=1", f"publication_names={publication}")
    else:  # wal2json: JSON lines, one change per line, as the jsonl sink writes them
        options = ("format-version=2",)
    options = [f"--option={option}" for option in options]
    return run_measured(
        [
            *(binary, "--dbname", bench_url, "--slot", slot, "--start", "--no-loop"),
            *("--endpos", end_lsn, "--file", "/dev/null", *options),
        ]
    )


@contextmanager
def own_redis_server():
    """A redis-server of the benchmark's own, in a scratch directory: its URL, or None when
    there is no redis-server on PATH."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        server = subprocess.Popen(
            [
                binary,
                *("--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", ""),
                *("--appendonly", "yes", "--appendfsync", "always"),
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C stops the benchmark, which cleans up, then it
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            client = redis.Redis.from_url(url)
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.ping()
                    break
                except redis.exceptions.ConnectionError:
                    if time.monotonic() > deadline:
                        raise SystemExit("redis-server did not start within 30 s") from None
                    time.sleep(0.05)
            client.close()
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


class WalsenderWatch(threading.Thread):
    """The CPU time of the walsender streaming a slot, read from /proc while a contender drains
    it: the server's real work of decoding and sending, which decoding in SQL leaves out. None
    when the server runs on another machine (its walsender is not in this /proc)."""

    def __init__(self, url, slot):
        super().__init__(daemon=True)
        self.url, self.slot = url, slot
        self.cpu_seconds = None
        self.stopped = threading.Event()

    def run(self):
        connection = connect(self.url)
        pid = None
        try:
            # Often: a short run's walsender lives only some tens of milliseconds.
            while not self.stopped.wait(0.005):
                if pid is None:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s",
                            [self.slot],
                        )
                        pid = (cursor.fetchone() or (None,))[0]
                if pid is not None and (cpu := walsender_cpu_seconds(pid)) is not None:
                    self.cpu_seconds = cpu  # the last reading before it exits
        finally:
            connection.close()


def walsender_cpu_seconds(pid):
    """User and system CPU of process `pid`, if it is a walsender of this machine's."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes()  # "postgres: walsender user host ..."
        if not (title.startswith(b"postgres: ") and b"walsender" in title):
            return None
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone, or no /proc
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def watching_walsender(url, slot):
    watch = WalsenderWatch(url, slot)
    watch.start()
    try:
        yield watch
    finally:
        watch.stopped.set()
        watch.join()


def redis_streams(name):
    """The stream names the redis contender writes: --redis-stream, and a pattern of them."""
    return name + ".{table}", name + ".*"


def redis_cpu_seconds(redis_url):
    """The CPU redis-server has used since it started (INFO cpu)."""
    client = redis.Redis.from_url(redis_url)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return info["used_cpu_user"] + info["used_cpu_sys"]


def delete_streams(redis_url, name):
    client = redis.Redis.from_url(redis_url)
    try:
        streams = list(client.scan_iter(match=redis_streams(name)[1], _type="stream"))
        if streams:
            client.delete(*streams)
    finally:
        client.close()


def consume_changes(bench_url, publication, slot, sink, changes, options=(), project=PROJECT):
    return run_measured(
        [
            sys.executable,
            "manage.py",
            "consume_changes",
            "--sink",
            sink,
            "--slot",
            slot,
            "--publication",
            publication,
            "--tables",
            TABLE,
            "--max-events",
            str(changes),
            "-v",
            "0",
            *options,
        ],
        cwd=project,
        env=manage_environment(bench_url),
    )


def drain_copy(
    bench_url, name, contender, end_lsn, changes, redis_url, events_file=None, baseline=None
) -> Run:
    """Drain a fresh copy of the backlog's slot with one contender."""
    slot = f"{name}_run"
    plugin = "wal2json" if contender == "wal2json" else "pgoutput"
    # Every run starts from the same state: no events or checkpoint from an earlier run, and no
    # dirty pages of one left for the server to write out during this one.
    admin(
        bench_url,
        ("TRUNCATE changefeed_changeevent, changefeed_checkpoint",),
        ("CHECKPOINT",),
        ("SELECT pg_copy_logical_replication_slot(%s, %s, false, %s)", [name, slot, plugin]),
    )
    project = PROJECT
    if contender.endswith(BASELINE):
        contender, project = contender.removesuffix(BASELINE), baseline
    try:
        if contender in ("pgoutput", "wal2json"):
            return pg_recvlogical(bench_url, name, slot, end_lsn, plugin)
        if contender == "decoding":
            return decode_in_sql(bench_url, name, slot, end_lsn)
        if contender == "start-up":
            return start_up(bench_url)
        if contender == "ingest":
            measured = ingest_events(bench_url, events_file)
            stored = stored_events(bench_url)
            if stored != changes:
                raise SystemExit(f"The ingest stored {stored} of {changes} events")
            return measured
        options = ()
        if contender == "redis":
            delete_streams(redis_url, name)
            options = ("--redis-url", redis_url, "--redis-stream", redis_streams(name)[0])
            redis_before = redis_cpu_seconds(redis_url)
        with watching_walsender(bench_url, slot) as walsender:
            run = consume_changes(bench_url, name, slot, contender, changes, options, project)
        run = run._replace(walsender_cpu_seconds=walsender.cpu_seconds)
        if contender == "redis":
            run = run._replace(redis_cpu_seconds=redis_cpu_seconds(redis_url) - redis_before)
        return run
    finally:
        drop_slots(bench_url, "slot_name = %s", [slot])


def contenders_of(wal2json, redis_url, baseline):
    contenders = [c for c in CONTENDERS if wal2json or c != "wal2json"]
    sinks = [sink for sink in SINKS if redis_url or sink != "redis"]
    return contenders + sinks + [sink + BASELINE for sink in sinks if baseline]


def measure(url, name, changes, rounds, redis_url=None, wal2json=True, baseline=None):
    print(
        f"Building a backlog of {changes:,} changes in {changes // TRANSACTION_SIZE:,} "
        f"transactions of {TRANSACTION_SIZE}...",
        flush=True,
    )
    contenders = contenders_of(wal2json, redis_url, baseline)
    runs = {contender: [] for contender in contenders}
    scratch = tempfile.TemporaryDirectory(prefix="changefeed_benchmark_")
    try:
        bench_url, end_lsn = build_backlog(url, name, changes)
        # The events the ingest stores: those of a store run, untimed.
        events_file = Path(scratch.name) / "events.copy"
        drain_copy(bench_url, name, "store", end_lsn, changes, redis_url)
        events = f"SELECT {EVENT_COLUMNS} FROM changefeed_changeevent"  # noqa: S608 (constants)
        psql(bench_url, f"\\copy ({events}) to '{events_file}'")
        for round_ in range(rounds):
            shift = round_ % len(contenders)
            for contender in contenders[shift:] + contenders[:shift]:
                runs[contender].append(
                    drain_copy(
                        bench_url,
                        name,
                        contender,
                        end_lsn,
                        changes,
                        redis_url,
                        events_file,
                        baseline,
                    )
                )
    finally:
        # The slots first: a slot left behind keeps the server's WAL.
        drop_slots(url, "database = %s", [name])
        admin(url, (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",))
        scratch.cleanup()
        if redis_url:
            delete_streams(redis_url, name)
    # Each contender's median run, with the highest peak of its runs.
    results = {
        contender: median_run(results)._replace(peak_mb=max(run.peak_mb for run in results))
        for contender, results in runs.items()
    }
    report(results, runs, changes)
    return results


def ratios(contender, results):
    """What the contender's median is next to: pgoutput's (the reference), for every contender;
    wal2json's, for the sinks and their baselines; for a sink, its goal's reference with the
    verdict, and its baseline."""
    if contender == "pgoutput":
        return "the reference"
    elapsed = results[contender].seconds
    others = ["pgoutput"] if contender in NAMES else ["pgoutput", "wal2json"]
    reference, goal = GOALS.get(contender, (None, None))
    texts = []
    for other in dict.fromkeys([*others, reference] if reference else others):
        if other not in results:
            if other == reference:
                texts.append(f"(goal <= {goal}x {other}: not judged, no {other} here)")
            continue
        ratio = elapsed / results[other].seconds
        text = f"{ratio:4.2f}x {other}"
        if other == reference:
            text += f" (goal <= {goal}x: {'ok' if ratio <= goal else 'OVER GOAL'})"
        texts.append(text)
    if contender + BASELINE in results:
        texts.append(f"{elapsed / results[contender + BASELINE].seconds:4.2f}x its baseline")
    return "   ".join(texts)


def report(results, runs, changes):
    """One line per contender: its median time, CPU, peak memory, ratios and goal; then, per
    change, what each sink's CPU is next to what its goal leaves."""
    rounds = len(runs["pgoutput"])
    print(
        f"  Medians of {rounds} round{'s' if rounds > 1 else ''}: the median run's CPU, the"
        " highest peak memory, every run's time, the medians' ratios."
    )
    if changes < JUDGED_FROM:
        print(
            f"  Only {changes:,} changes: start-up weighs on every ratio, so the goals below are "
            f"not to be judged (at {JUDGED_FROM:,} changes or more, they are)."
        )
    for contender, (elapsed, peak, cpu, *_) in results.items():
        sink = contender.removesuffix(BASELINE)
        name = NAMES.get(contender, f"consume_changes {sink}")
        if contender != sink:
            name += " (baseline)"
        # A child's peak counts this script's memory at its start (Linux carries it over the
        # exec): only Python processes, which use more, have a peak of their own to show.
        memory = f"{'-':>6}   " if contender in C_PROGRAMS else f"{peak:6.1f} MB"
        all_runs = ", ".join(f"{run.seconds:.2f}" for run in runs[contender])
        print(
            f"  {name:<34} {elapsed:6.2f} s   cpu {cpu:5.2f} s   peak {memory}   runs: {all_runs}"
            f"   {ratios(contender, results)}"
        )
    decoding, start_up = results["decoding"].seconds, results["start-up"]
    floor = decoding + start_up.seconds
    beaten = f"{floor / results['pgoutput'].seconds:.2f}x pgoutput"
    if "wal2json" in results:
        beaten += f" ({floor / results['wal2json'].seconds:.2f}x wal2json)"
    print(f"  No consumer can beat {beaten} here: the server's decoding plus start-up.")
    print("  Per change, past start-up: each sink's CPU, and the wall time its goal leaves:")
    for sink, (other, goal) in GOALS.items():
        if sink not in results:
            continue
        run = results[sink]
        cpu = (run.cpu_seconds - start_up.cpu_seconds) / changes * 1e6
        line = f"    consume_changes {sink:<7} {cpu:7.2f} us of CPU   goal leaves "
        if other not in results:
            line += f"(not judged: no {other} here)"
        else:
            left = (goal * results[other].seconds - start_up.seconds) / changes * 1e6
            line += f"{left:7.2f} us" if left > 0 else "nothing (start-up alone is over it)"
        if run.walsender_cpu_seconds is not None:
            line += f"   walsender: {run.walsender_cpu_seconds / changes * 1e6:.2f} us of CPU"
        if sink == "redis":
            line += f"   redis-server: {run.redis_cpu_seconds / changes * 1e6:.2f} us of CPU"
        print(line)
    report_work_floor(results, decoding, start_up)


def report_work_floor(results, decoding, start_up):
    """The least time the work of the store and redis sinks can take on this machine's cores."""
    cores = os.cpu_count() or 1
    writes = {"store": results["ingest"].seconds}  # psql's wall time: the server's own work
    if "redis" in results:
        writes["redis"] = results["redis"].redis_cpu_seconds
    lines = []
    for sink, server_work in writes.items():
        if sink not in results:
            continue
        run = results[sink]
        consumer = run.cpu_seconds - start_up.cpu_seconds
        # The walsender's work, where this machine can see it: decoding and sending.
        streaming = decoding if run.walsender_cpu_seconds is None else run.walsender_cpu_seconds
        parts = (streaming, consumer, server_work)
        least = start_up.seconds + max(sum(parts) / cores, *parts)
        line = f"    consume_changes {sink:<7} {least:7.2f} s"
        if "jsonl" in results:
            line += f" = {least / results['jsonl'].seconds:.2f}x jsonl"
        lines.append(line)
    if lines:
        print(
            f"  Shared out over {cores} core{'s' if cores > 1 else ''} (or, if longer, its "
            "longest part), the least time a sink's work can take: start-up, then the walsender's "
            "CPU (or, for a server elsewhere, its decoding in SQL), the sink's CPU past start-up, "
            "and the work of its writes (store: the server's ingest; redis: redis-server's CPU):"
        )
        print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "url",
        nargs="?",
        default=os.environ.get("DATABASE_URL"),
        help="PostgreSQL URL (default: DATABASE_URL)",
    )
    parser.add_argument(
        "--changes",
        type=int,
        default=JUDGED_FROM,
        help=f"the backlog's size, a multiple of {TRANSACTION_SIZE} (default 200,000; judge the "
        "goals at this size or more: on a small backlog, start-up alone is over them)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs per contender (the median counts)"
    )
    parser.add_argument(
        "--name",
        default=DEFAULT_NAME,
        help="scratch database (dropped first and last), publication and slot name "
        f"(default {DEFAULT_NAME})",
    )
    parser.add_argument(
        "--redis-url",
        help="Redis for the redis sink, with appendonly yes and appendfsync always (default: a "
        "redis-server of the benchmark's own, if one is on PATH)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="another copy of this project (an earlier commit, say) whose sinks run as extra "
        "contenders in the same rounds",
    )
    parser.add_argument(
        "--memory",
        nargs="?",
        type=int,
        const=1_000_000,
        metavar="CHANGES",
        help="also run at CHANGES changes (default 1,000,000) and compare peak memory",
    )
    args = parser.parse_args()
    if not args.url:
        parser.error("give a PostgreSQL URL, or set DATABASE_URL")

    for size in (args.changes, args.memory or args.changes):
        if size < TRANSACTION_SIZE or size % TRANSACTION_SIZE or args.rounds < 1:
            parser.error(
                f"--changes and --memory must be multiples of {TRANSACTION_SIZE}, and --rounds at "
                "least 1"
            )
    if args.memory is not None and args.memory <= args.changes:
        parser.error("--memory must be more changes than --changes")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", args.name):
        parser.error("--name must be a lowercase SQL identifier of at most 41 characters")
    if args.baseline and not (args.baseline / "manage.py").is_file():
        parser.error(f"--baseline {args.baseline}: no manage.py there (give a project's folder)")
    try:
        superuser, wal2json = is_superuser(args.url), has_wal2json(args.url)
    except psycopg2.Error as error:
        reason = str(error).strip().splitlines()[0]
        raise SystemExit(f"Cannot use {redacted(args.url)}: {reason}") from None
    if not superuser:
        raise SystemExit(
            f"Cannot use {redacted(args.url)}: connect as the server's postgres superuser (the "
            "benchmark migrates as postgres, as Electric's proxy does, and runs CHECKPOINT)."
        )
    if args.redis_url is not None:
        check_redis(args.redis_url)
    if not wal2json:
        print(
            "The server has no wal2json output plugin (Debian: postgresql-15-wal2json): its "
            "contender is skipped, and jsonl's goal is not judged."
        )
    with own_redis_server() if args.redis_url is None else nullcontext(args.redis_url) as redis_url:
        if redis_url is None:
            print("No redis-server on PATH and no --redis-url: the redis sink is left out.")
        compare(args, redis_url, wal2json)


def compare(args, redis_url, wal2json):
    options = {"redis_url": redis_url, "wal2json": wal2json, "baseline": args.baseline}
    small = measure(args.url, args.name, args.changes, args.rounds, **options)
    if args.memory:
        large = measure(args.url, args.name, args.memory, args.rounds, **options)
        for sink in (sink for sink in SINKS if sink in large):
            growth = large[sink].peak_mb - small[sink].peak_mb
            verdict = "ok" if growth <= MEMORY_GROWTH_GOAL_MB else "OVER GOAL"
            print(
                f"  {sink}: peak memory grew {growth:+.1f} MB from {args.changes:,} to "
                f"{args.memory:,} changes (goal <= {MEMORY_GROWTH_GOAL_MB} MB: {verdict})"
            )


if __name__ == "__main__":
    main()
