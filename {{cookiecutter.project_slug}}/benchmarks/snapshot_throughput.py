"""How fast, and in how much memory, consume_changes --snapshot reads a table, next to \\copy.

    python benchmarks/snapshot_throughput.py postgres://postgres:secret@localhost:5432/postgres

The URL names a server with wal_level=logical, and its superuser `postgres` (as for
changefeed_throughput.py, whose helpers this script shares). It works in a scratch database of
its own, dropped afterwards, with a table of --rows rows shaped like the sample app's `items`.
Each contender reads the whole table:

- psql \\copy: the table's rows, as text, to /dev/null (the reference: the fastest way out);
- store floor: psql \\copy of the same `read` events into the ChangeEvent table, from a file made
  before the clock starts: what the server alone spends storing them, with no Python and no
  stream, on the same two cores. No store sink can beat it; the store's line says how far above
  it the sink is;
- consume_changes --sink store --snapshot: read in primary key order, in chunks interleaved
  with the stream, stored as `read` ChangeEvents with their SnapshotProgress;
- consume_changes --sink jsonl --snapshot: the same, printed as JSON lines to /dev/null.

Each of --rounds rounds runs every contender once, in rotating order (each consumer on a fresh
slot and an empty store), and each contender's best time counts. It prints the times as ratios
to the reference and each process's peak memory; with --memory it repeats at 1,000,000 rows and
prints how much the consumer's peak grew. Goals: store <= 3.0x (which the floor alone exceeds on
our 2-core machines: 5 to 9x), and no more than 25 MB more memory at 1,000,000 rows than at
100,000 (a snapshot holds a chunk at a time).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from changefeed_throughput import (
    CREATE_TABLE,
    MEMORY_GOAL_MB,
    PROJECT,
    TABLE,
    admin,
    drop_slots,
    fastest,
    ingest_events,
    manage_environment,
    psql,
    run_measured,
    stored_events,
    with_database,
)

DEFAULT_NAME = "changefeed_snapshot_benchmark"
CONTENDERS = ("psql", "floor", "store", "jsonl")
GOALS = {"store": 3.0}
FILL = (
    f"INSERT INTO {TABLE} (id, title, notes, done, created_at, updated_at) "  # noqa: S608
    "SELECT gen_random_uuid(), 'row ' || n, 'some notes', n % 2 = 0, now(), now() "
    "FROM generate_series(1, {rows}) n"
)

# Each row of the table as the `read` event the store sink stores for it.
EVENTS_OF_TABLE = (
    f"SELECT 'floor', 0, 0, now(), 0, 0, 'public.{TABLE}', 'read', "  # noqa: S608
    f"jsonb_build_object('id', id), NULL, to_jsonb(t), '[]' FROM {TABLE} t"
)


def build_table(url, name, rows):
    """A scratch database, migrated, with the benchmark's table of `rows` rows."""
    admin(url, (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",), (f"CREATE DATABASE {name}",))
    bench_url = with_database(url, name)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--database=proxy", "--skip-checks", "-v", "0"],
        cwd=PROJECT,
        env=manage_environment(bench_url),
        check=True,
    )
    admin(bench_url, (CREATE_TABLE,), (FILL.format(rows=rows),), (f"VACUUM ANALYZE {TABLE}",))
    return bench_url


def write_events_file(bench_url, path):
    """The store's `read` events of every row, in COPY's format, for the floor (not timed)."""
    psql(bench_url, f"\\copy ({EVENTS_OF_TABLE}) to '{path}'")


def consume_snapshot(bench_url, name, sink, rows):
    return run_measured(
        [
            sys.executable,
            "manage.py",
            "consume_changes",
            *("--sink", sink, "--snapshot", "--slot", name, "--publication", name),
            *("--tables", TABLE, "--max-events", str(rows), "-v", "0"),
        ],
        cwd=PROJECT,
        env=manage_environment(bench_url),
    )


def read_once(bench_url, name, contender, rows, events_file):
    """One contender reads the table once."""
    slot = f"{name}_run"
    # Every run starts from the same state: an empty store, no slot, no dirty pages.
    admin(
        bench_url,
        ("TRUNCATE changefeed_changeevent, changefeed_checkpoint, changefeed_snapshotprogress",),
        ("CHECKPOINT",),
    )
    try:
        if contender == "psql":
            return psql(bench_url, f"\\copy {TABLE} to /dev/null")
        if contender == "floor":
            measured = ingest_events(bench_url, events_file)
        else:
            measured = consume_snapshot(bench_url, slot, contender, rows)
        if contender != "jsonl":
            # Both stored every row once, or their times would compare nothing.
            stored = stored_events(bench_url)
            if stored != rows:
                raise SystemExit(f"{contender} stored {stored} events of a {rows}-row table")
        return measured
    finally:
        drop_slots(bench_url, "slot_name = %s", [slot])
        admin(bench_url, (f"DROP PUBLICATION IF EXISTS {slot}",))


def measure(url, name, rows, rounds):
    print(f"Building a table of {rows:,} rows...", flush=True)
    bench_url = build_table(url, name, rows)
    runs = {contender: [] for contender in CONTENDERS}
    scratch = tempfile.TemporaryDirectory(prefix="snapshot_benchmark_")
    try:
        events_file = Path(scratch.name) / "events.copy"
        write_events_file(bench_url, events_file)
        for round_ in range(rounds):
            shift = round_ % len(CONTENDERS)
            for contender in CONTENDERS[shift:] + CONTENDERS[:shift]:
                runs[contender].append(read_once(bench_url, name, contender, rows, events_file))
    finally:
        scratch.cleanup()
        drop_slots(url, "database = %s", [name])
        admin(url, (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",))
    results = {
        contender: fastest(results)._replace(peak_mb=max(run.peak_mb for run in results))
        for contender, results in runs.items()
    }
    reference, floor = results["psql"].seconds, results["floor"].seconds
    for contender, (elapsed, peak, *_) in results.items():
        all_runs = ", ".join(f"{run.seconds:.2f}" for run in runs[contender])
        if contender == "psql":
            verdict = "reference"
            label = "psql \\copy"
        else:
            ratio = elapsed / reference
            goal = GOALS.get(contender)
            verdict = f"{ratio:5.2f}x"
            if goal:
                verdict += f" (goal <= {goal}x: {'ok' if ratio <= goal else 'OVER GOAL'})"
            if contender == "store":
                verdict += f" {elapsed / floor:.2f}x the floor"
            label = "store floor" if contender == "floor" else f"snapshot {contender}"
        rate = rows / elapsed
        print(
            f"  {label:<16} {elapsed:6.2f} s  {rate:9,.0f} rows/s   peak {peak:6.1f} MB   "
            f"{verdict}   runs: {all_runs}"
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
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="runs per contender (best counts)")
    parser.add_argument(
        "--name",
        default=DEFAULT_NAME,
        help="scratch database (dropped first and last), publication and slot name "
        f"(default {DEFAULT_NAME})",
    )
    parser.add_argument(
        "--memory", action="store_true", help="also run at 1,000,000 rows and compare peak memory"
    )
    args = parser.parse_args()
    if not args.url:
        parser.error("give a PostgreSQL URL, or set DATABASE_URL")
    if args.rows < 1 or args.rounds < 1:
        parser.error("--rows and --rounds must be at least 1")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", args.name):
        parser.error("--name must be a lowercase SQL identifier of at most 41 characters")
    small = measure(args.url, args.name, args.rows, args.rounds)
    if args.memory:
        large = measure(args.url, args.name, 1_000_000, args.rounds)
        for sink in ("store", "jsonl"):
            growth = large[sink].peak_mb - small[sink].peak_mb
            verdict = "ok" if growth <= MEMORY_GOAL_MB else "OVER GOAL"
            print(
                f"  {sink}: peak memory grew {growth:+.1f} MB from {args.rows:,} to "
                f"1,000,000 rows (goal <= {MEMORY_GOAL_MB} MB: {verdict})"
            )


if __name__ == "__main__":
    main()
