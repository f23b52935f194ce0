"""The throughput benchmark runs end to end, on a small backlog (its figures are not judged here:
speed is for the benchmark itself to report, on a quiet machine)."""

import re
import subprocess
import sys
import uuid

from changefeed.tests.source_databases import PROJECT


def test_the_benchmark_drains_a_backlog_with_every_contender_and_cleans_up(source):
    name = f"bench_{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/changefeed_throughput.py",
            source.url(),  # any database: the benchmark makes its own scratch database
            *("--changes", "1000", "--rounds", "2", "--name", name),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr

    figures = r"\s+(\d+\.\d\d) s\s+cpu\s+(\d+\.\d\d) s\s+peak\s+(\d+\.\d) MB\s+"
    runs = r"\s+runs: \d+\.\d\d, \d+\.\d\d$"
    reference = re.search(rf"^  pg_recvlogical{figures}reference{runs}", result.stdout, re.M)
    assert reference, result.stdout
    # The parts measured alone: Django's start-up, and the server storing the same events.
    for part in (r"start-up \(--help\)", r"store ingest \(COPY\)"):
        assert re.search(rf"^  {part}\s+{figures}\d+\.\d\dx{runs}", result.stdout, re.M), part
    start_up = re.search(rf"^  start-up \(--help\)\s+{figures}", result.stdout, re.M)
    floor = re.search(r"^  No consumer can beat (\d+\.\d\d)x here", result.stdout, re.M)
    assert floor, result.stdout
    # The reference plus start-up, over the reference: of the unrounded times, within rounding.
    base, extra = float(reference[1]), float(start_up[1])
    assert (base + extra - 0.01) / (base + 0.005) - 0.005 <= float(floor[1])
    assert float(floor[1]) <= (base + extra + 0.01) / max(base - 0.005, 0.001) + 0.005
    # The redis sink runs on a redis-server of the benchmark's own (the tests need one on PATH).
    for sink, goal in (("store", 2.0), ("jsonl", 1.3), ("redis", 1.5)):
        line = re.search(
            rf"^  consume_changes {sink}{figures}(\d+\.\d\d)x \(goal <= {goal}x: (ok|OVER GOAL)\)"
            rf"{runs}",
            result.stdout,
            re.M,
        )
        assert line, result.stdout
        # The ratio is of the unrounded times: check it against the printed ones' rounding.
        seconds, cpu, ratio = float(line[1]), float(line[2]), float(line[4])
        assert (seconds - 0.005) / (base + 0.005) - 0.005 <= ratio
        assert ratio <= (seconds + 0.005) / max(base - 0.005, 0.001) + 0.005
        # Per change (here 1,000 of them), past start-up: the sink's CPU and what its goal leaves.
        per_change = re.search(
            rf"^    consume_changes {sink}\s+(-?\d+\.\d\d) us of CPU   goal leaves "
            r"(?:(-?\d+\.\d\d) us|nothing \(start-up alone is over it\))",
            result.stdout,
            re.M,
        )
        assert per_change, result.stdout
        start_up_cpu = float(start_up[2])
        assert abs(float(per_change[1]) - (cpu - start_up_cpu) * 1000) <= 0.01 * 1000 + 0.01
        left = (goal * base - extra) * 1000  # in microseconds per change, of the rounded times
        if per_change[2] is None:
            assert left <= (goal + 1) * 0.005 * 1000
        else:
            assert abs(float(per_change[2]) - left) <= (goal + 1) * 0.005 * 1000 + 0.01
        if sink == "redis":
            # redis-server's own CPU during that run: it added 1,000 entries, so it did work.
            redis_cpu = re.search(r"   redis-server: (\d+\.\d\d) us of CPU$", result.stdout, re.M)
            assert redis_cpu and float(redis_cpu[1]) > 0, result.stdout

    assert source.sql("SELECT datname FROM pg_database WHERE datname = %s", [name]) == []
    slots = "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s"
    assert source.sql(slots, [f"{name}%"]) == []


def test_the_snapshot_benchmark_reads_a_table_with_every_contender_and_cleans_up(source):
    name = f"bench_{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/snapshot_throughput.py",
            source.url(),
            *("--rows", "2000", "--rounds", "2", "--name", name),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr

    figures = r"\s+(\d+\.\d\d) s\s+[\d,]+ rows/s\s+peak\s+(\d+\.\d) MB\s+"
    runs = r"\s+runs: \d+\.\d\d, \d+\.\d\d$"
    assert re.search(rf"^  psql \\copy{figures}reference{runs}", result.stdout, re.M), result.stdout
    floor = re.search(rf"^  store floor{figures}(\d+\.\d\d)x{runs}", result.stdout, re.M)
    store = re.search(
        rf"^  snapshot store{figures}\d+\.\d\dx \(goal <= 3.0x: (ok|OVER GOAL)\) "
        rf"(\d+\.\d\d)x the floor{runs}",
        result.stdout,
        re.M,
    )
    assert floor and store, result.stdout
    # How far above the floor the store is: of the unrounded times, so within the rounding.
    seconds, ratio, base = float(store[1]), float(store[4]), float(floor[1])
    assert (seconds - 0.005) / (base + 0.005) - 0.005 <= ratio
    assert ratio <= (seconds + 0.005) / max(base - 0.005, 0.001) + 0.005
    assert re.search(rf"^  snapshot jsonl{figures}\d+\.\d\dx{runs}", result.stdout, re.M)

    assert source.sql("SELECT datname FROM pg_database WHERE datname = %s", [name]) == []
    slots = "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s"
    assert source.sql(slots, [f"{name}%"]) == []
