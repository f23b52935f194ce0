"""The throughput benchmark runs end to end, on a small backlog (its figures are not judged here:
speed is for the benchmark itself to report, on a quiet machine)."""

import re
import subprocess
import sys
import uuid

import pytest

from changefeed.tests.source_databases import PROJECT

# Deep: the benchmark script, end to end.
# Left out of the default run; `pytest -m deep` runs it.
pytestmark = pytest.mark.deep


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

    def printed(pattern):
        """The line of the output that matches `pattern`, which must be there."""
        line = re.search(pattern, result.stdout, re.M)
        assert line, f"{pattern!r} not in:\n{result.stdout}"
        return line

    figures = r"\s+(\d+\.\d\d) s\s+cpu\s+(\d+\.\d\d) s\s+peak\s+(\d+\.\d) MB\s+"
    runs = r"\s+runs: \d+\.\d\d, \d+\.\d\d$"
    reference = printed(rf"^  pg_recvlogical{figures}reference{runs}")
    # The parts measured alone: Django's start-up, and the server storing the same events.
    start_up = printed(rf"^  start-up \(--help\){figures}\d+\.\d\dx{runs}")
    printed(rf"^  store ingest \(COPY\){figures}\d+\.\d\dx{runs}")
    floor = float(printed(r"^  No consumer can beat (\d+\.\d\d)x here")[1])
    # The reference plus start-up, over the reference: of the unrounded times, within rounding.
    base, extra, start_up_cpu = float(reference[1]), float(start_up[1]), float(start_up[2])
    assert (base + extra - 0.01) / (base + 0.005) - 0.005 <= floor
    assert floor <= (base + extra + 0.01) / max(base - 0.005, 0.001) + 0.005
    # The redis sink runs on a redis-server of the benchmark's own (the tests need one on PATH).
    for sink, goal in (("store", 2.0), ("jsonl", 1.3), ("redis", 1.5)):
        line = printed(
            rf"^  consume_changes {sink}{figures}(\d+\.\d\d)x \(goal <= {goal}x: (ok|OVER GOAL)\)"
            rf"{runs}"
        )
        # The ratio is of the unrounded times: check it against the printed ones' rounding.
        seconds, cpu, ratio = float(line[1]), float(line[2]), float(line[4])
        assert (seconds - 0.005) / (base + 0.005) - 0.005 <= ratio
        assert ratio <= (seconds + 0.005) / max(base - 0.005, 0.001) + 0.005
        # Per change (here 1,000 of them), past start-up: the sink's CPU and what its goal leaves.
        per_change = printed(
            rf"^    consume_changes {sink}\s+(-?\d+\.\d\d) us of CPU   goal leaves "
            r"(?:(\d+\.\d\d) us|nothing \(start-up alone is over it\))"
        )
        assert abs(float(per_change[1]) - (cpu - start_up_cpu) * 1000) <= 0.01 * 1000 + 0.01
        left = (goal * base - extra) * 1000  # in microseconds per change, of the rounded times
        if per_change[2] is None:
            assert left <= (goal + 1) * 0.005 * 1000
        else:
            assert abs(float(per_change[2]) - left) <= (goal + 1) * 0.005 * 1000 + 0.01
    # redis-server's own CPU during the redis run: it added 1,000 entries, so it did work.
    redis_server = printed(r"^    consume_changes redis .*redis-server: (\d+\.\d\d) us of CPU$")
    assert float(redis_server[1]) > 0

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
