"""How fast, and in how much memory, consume_changes drains a backlog, next to pg_recvlogical.

    python benchmarks/changefeed_throughput.py postgres://postgres:secret@localhost:5432/postgres

The URL names a server with wal_level=logical and a role that may create databases and
replication slots; the benchmark works in a scratch database of its own, dropped afterwards.
It builds a backlog of row changes (inserts, updates and deletes of `items`, 100 per
transaction) with one replication slot per contender, then drains each slot in turn:

- pg_recvlogical: PostgreSQL's own client, writing the pgoutput stream to /dev/null (the
  reference; run first and last, the faster run counts);
- consume_changes --sink store: decoded, stored as ChangeEvents, checkpointed;
- consume_changes --sink jsonl: decoded, printed as JSON lines to /dev/null.

It prints times as ratios to the reference and each process's peak memory; with --memory it
repeats at 1,000,000 changes and prints how much the consumer's peak grew. Goals: store <= 2.0x,
jsonl <= 1.3x, and no more than 25 MB more memory at 1,000,000 changes than at 200,000.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import psycopg2

PROJECT = Path(__file__).resolve().parent.parent
DATABASE = "changefeed_benchmark"
PUBLICATION = "changefeed_benchmark"
SLOTS = ("bench_recvlogical_1", "bench_store", "bench_jsonl", "bench_recvlogical_2")
TRANSACTION_SIZE = 100  # 60 inserts, 30 updates of those rows, 10 deletes of them
GOALS = {"store": 2.0, "jsonl": 1.3}
MEMORY_GOAL_MB = 25


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


def build_backlog(url, changes):
    """A scratch database, one slot per contender, then `changes` row changes after them."""
    admin(
        url,
        (f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)",),
        (f"CREATE DATABASE {DATABASE}",),
    )
    bench_url = with_database(url, DATABASE)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--database=proxy", "-v", "0"],
        cwd=PROJECT,
        env=manage_environment(bench_url),
        check=True,
    )
    connection = connect(bench_url)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE PUBLICATION {PUBLICATION} FOR TABLE items")
        for slot in SLOTS:
            cursor.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [slot])
    connection.autocommit = False
    with connection.cursor() as cursor:
        for _ in range(changes // TRANSACTION_SIZE):
            ids = [str(uuid.uuid4()) for _ in range(60)]
            cursor.execute(
                "INSERT INTO items (id, title, notes, done, created_at, updated_at) "
                "SELECT id::uuid, 'item ' || id, 'some notes', false, now(), now() "
                "FROM unnest(%s::text[]) AS id",
                [ids],
            )
            cursor.execute(
                "UPDATE items SET done = true, updated_at = now() WHERE id = ANY(%s::uuid[])",
                [ids[:30]],
            )
            cursor.execute("DELETE FROM items WHERE id = ANY(%s::uuid[])", [ids[30:40]])
            connection.commit()
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        (end_lsn,) = cursor.fetchone()
    connection.close()
    return bench_url, end_lsn


def run_measured(command, **kwargs):
    """Wall time and peak resident memory (MB) of one process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, **kwargs)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed with exit code {process.returncode}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is in kilobytes on Linux


def pg_recvlogical(bench_url, slot, end_lsn):
    binary = shutil.which("pg_recvlogical")
    if binary is None:
        raise SystemExit("pg_recvlogical not found: install PostgreSQL's client programs.")
    return run_measured(
        [
            binary,
            "--dbname",
            bench_url,
            "--slot",
            slot,
            "--start",
            "--no-loop",
            "--endpos",
            end_lsn,
            "--file",
            "/dev/null",
            "-o",
            "proto_version=1",
            "-o",
            f"publication_names={PUBLICATION}",
        ]
    )


def consume_changes(bench_url, slot, sink, changes):
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
            PUBLICATION,
            "--max-events",
            str(changes),
            "-v",
            "0",
        ],
        cwd=PROJECT,
        env=manage_environment(bench_url),
    )


def measure(url, changes):
    print(
        f"Building a backlog of {changes:,} changes in {changes // TRANSACTION_SIZE:,} "
        "transactions...",
        flush=True,
    )
    bench_url, end_lsn = build_backlog(url, changes)
    try:
        first = pg_recvlogical(bench_url, SLOTS[0], end_lsn)
        results = {
            "store": consume_changes(bench_url, SLOTS[1], "store", changes),
            "jsonl": consume_changes(bench_url, SLOTS[2], "jsonl", changes),
        }
        last = pg_recvlogical(bench_url, SLOTS[3], end_lsn)
    finally:
        admin(
            url,
            (
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = ANY(%s)",
                [list(SLOTS)],
            ),
            (f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)",),
        )
    reference = min(first, last)
    print(
        f"  pg_recvlogical          {reference[0]:7.2f} s   peak {reference[1]:6.1f} MB   "
        f"(reference; runs took {first[0]:.2f} s and {last[0]:.2f} s)"
    )
    for sink, (elapsed, peak) in results.items():
        ratio = elapsed / reference[0]
        verdict = "ok" if ratio <= GOALS[sink] else "OVER GOAL"
        print(
            f"  consume_changes {sink:<7} {elapsed:7.2f} s   peak {peak:6.1f} MB   "
            f"{ratio:4.2f}x pg_recvlogical (goal <= {GOALS[sink]}x: {verdict})"
        )
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "url",
        nargs="?",
        default=os.environ.get("DATABASE_URL"),
        help="PostgreSQL URL (default: DATABASE_URL)",
    )
    parser.add_argument("--changes", type=int, default=200_000)
    parser.add_argument(
        "--memory",
        action="store_true",
        help="also run at 1,000,000 changes and compare peak memory",
    )
    args = parser.parse_args()
    if not args.url:
        parser.error("give a PostgreSQL URL, or set DATABASE_URL")

    small = measure(args.url, args.changes)
    if args.memory:
        large = measure(args.url, 1_000_000)
        for sink in ("store", "jsonl"):
            growth = large[sink][1] - small[sink][1]
            verdict = "ok" if growth <= MEMORY_GOAL_MB else "OVER GOAL"
            print(
                f"  {sink}: peak memory grew {growth:+.1f} MB from {args.changes:,} to "
                f"1,000,000 changes (goal <= {MEMORY_GOAL_MB} MB: {verdict})"
            )


if __name__ == "__main__":
    main()
