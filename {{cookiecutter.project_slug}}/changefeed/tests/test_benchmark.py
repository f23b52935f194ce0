"""The throughput benchmark runs end to end, on a small backlog (its figures are not judged here:
speed is for the benchmark itself to report, on a quiet machine)."""

import importlib.util
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import psycopg2.extras
import pytest

from changefeed.tests.source_databases import PROJECT

# Deep: the benchmark script, end to end.
# Left out of the default run; `pytest -m deep` runs it.
pytestmark = pytest.mark.deep


def server_has_wal2json(source):
    """Whether the wal2json output plugin is in the server's library folder."""
    (row,) = source.sql("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")
    return (Path(row["setting"]) / "wal2json.so").exists()


def test_the_benchmark_drains_a_backlog_with_every_contender_and_cleans_up(source):
    name = f"bench_{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/changefeed_throughput.py",
            source.url(),  # any database: the benchmark makes its own scratch database
            *("--changes", "1000", "--rounds", "3", "--name", name),
            # The project as its own baseline: its sinks run twice per round.
            *("--baseline", str(PROJECT)),
            *("--memory", "2000"),  # and again on a backlog twice as large
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

    def seconds(line):
        """A line's median, which must be the middle one of its three runs."""
        runs = sorted(float(run) for run in line["runs"].split(", "))
        assert float(line["seconds"]) == runs[1]
        return float(line["seconds"])

    def assert_ratio(printed_ratio, numerator, denominator):
        """A ratio is of the unrounded times: check it against the printed ones' rounding."""
        ratio = float(printed_ratio)
        assert (numerator - 0.005) / (denominator + 0.005) - 0.005 <= ratio
        assert ratio <= (numerator + 0.005) / max(denominator - 0.005, 0.001) + 0.005

    printed(r"^  Medians of 3 rounds: ")
    printed(r"^  Only 1,000 changes: start-up weighs on every ratio, so the goals below are not to")
    printed(r"^  Only 2,000 changes: ")  # --memory's backlog
    times_and_cpu = r"\s+(?P<seconds>\d+\.\d\d) s\s+cpu\s+(?P<cpu>\d+\.\d\d) s\s+"
    runs = r"\s+runs: (?P<runs>\d+\.\d\d, \d+\.\d\d, \d+\.\d\d)   "
    # PostgreSQL's own programs have no peak of their own to show; the Python processes have.
    c_program = rf"{times_and_cpu}peak\s+-{runs}"
    figures = rf"{times_and_cpu}peak\s+\d+\.\d MB{runs}"
    times = {"pgoutput": seconds(printed(rf"^  pg_recvlogical pgoutput{c_program}the reference$"))}
    if server_has_wal2json(source):
        wal2json = printed(rf"^  pg_recvlogical wal2json{c_program}(?P<ratio>\d+\.\d\d)x pgoutput$")
        times["wal2json"] = seconds(wal2json)
        assert_ratio(wal2json["ratio"], times["wal2json"], times["pgoutput"])
    else:
        printed(r"^The server has no wal2json output plugin .*: its contender is skipped")
    # The parts measured alone: the server's decoding for no client, Django's start-up, and the
    # server storing the same events.
    decoding = seconds(printed(rf"^  server decoding \(SQL\){c_program}\d+\.\d\dx pgoutput$"))
    start_up = printed(rf"^  start-up \(--help\){figures}(?P<ratio>\d+\.\d\d)x pgoutput$")
    assert_ratio(start_up["ratio"], seconds(start_up), times["pgoutput"])
    ingest = seconds(printed(rf"^  store ingest \(COPY\){c_program}\d+\.\d\dx pgoutput$"))
    floor = printed(
        r"^  No consumer can beat (\d+\.\d\d)x pgoutput(?: \((\d+\.\d\d)x wal2json\))? here: "
        "the server's decoding plus start-up.$"
    )
    assert_ratio(floor[1], decoding + seconds(start_up), times["pgoutput"])
    if "wal2json" in times:
        assert_ratio(floor[2], decoding + seconds(start_up), times["wal2json"])
    # The redis sink runs on a redis-server of the benchmark's own (the tests need one on PATH).
    consumer_cpu, walsender_cpu = {}, {}
    for sink, reference, goal in (
        ("jsonl", "wal2json", 1.0),
        ("store", "jsonl", 1.2),
        ("redis", "jsonl", 1.2),
    ):
        line = printed(rf"^  consume_changes {sink}{figures}(?P<ratio>\d+\.\d\d)x pgoutput.*$")
        times[sink] = seconds(line)
        consumer_cpu[sink] = float(line["cpu"]) - float(start_up["cpu"])
        assert_ratio(line["ratio"], times[sink], times["pgoutput"])
        if reference in times:
            judged = re.search(
                rf"   (\d+\.\d\d)x {reference} \(goal <= {goal}x: (ok|OVER GOAL)\)", line[0]
            )
            assert judged, line[0]
            assert_ratio(judged[1], times[sink], times[reference])
            ratio = times[sink] / times[reference]
            if abs(ratio - goal) > 0.02:  # else too close to call on the rounded times
                assert (judged[2] == "ok") == (ratio <= goal)
        else:
            assert f"(goal <= {goal}x {reference}: not judged, no {reference} here)" in line[0]
        # Its baseline (here the same code) ran in the same rounds.
        baseline = printed(rf"^  consume_changes {sink} \(baseline\){figures}.*$")
        in_line = re.search(r"   (\d+\.\d\d)x its baseline", line[0])
        assert in_line, line[0]
        assert_ratio(in_line[1], times[sink], seconds(baseline))
        # Per change (here 1,000 of them), past start-up: the sink's CPU and what its goal leaves.
        per_change = printed(
            rf"^    consume_changes {sink}\s+(-?\d+\.\d\d) us of CPU   goal leaves\s+"
            r"(?:(\d+\.\d\d) us|nothing \(start-up alone is over it\)|\(not judged: no \w+ here\))"
            r"(?P<rest>.*)$"
        )
        cpu_past_start_up = (float(line["cpu"]) - float(start_up["cpu"])) * 1000
        assert abs(float(per_change[1]) - cpu_past_start_up) <= 0.01 * 1000 + 0.01
        if reference in times:
            left = (goal * times[reference] - seconds(start_up)) * 1000  # us per change
            if per_change[2] is None:
                assert left <= (goal + 1) * 0.005 * 1000
            else:
                assert abs(float(per_change[2]) - left) <= (goal + 1) * 0.005 * 1000 + 0.01
        # The CPU of the walsender that streamed to the sink, when a reading caught it (the
        # server runs here, but a walsender streaming 1,000 changes lives only a moment);
        # without one, the least time below counts the decoding in SQL.
        walsender = re.match(r"   walsender: (\d+\.\d\d) us of CPU", per_change["rest"])
        walsender_cpu[sink] = decoding if walsender is None else float(walsender[1]) / 1000
    # redis-server's own CPU during the redis run: it added 1,000 entries, so it did work.
    redis_server = printed(r"^    consume_changes redis .*redis-server: (\d+\.\d\d) us of CPU$")
    assert float(redis_server[1]) > 0
    # The least time the store's and redis' work can take, shared out over this machine's cores.
    printed(rf"^  Shared out over {os.cpu_count()} cores? \(or, if longer, its longest part\), the")
    server_work = {"store": ingest, "redis": float(redis_server[1]) / 1000}  # 1,000 changes
    for sink in ("store", "redis"):
        least = printed(rf"^    consume_changes {sink}\s+(\d+\.\d\d) s = (\d+\.\d\d)x jsonl$")
        assert_ratio(least[2], float(least[1]), times["jsonl"])
        parts = (walsender_cpu[sink], consumer_cpu[sink], server_work[sink])
        expected = seconds(start_up) + max(sum(parts) / os.cpu_count(), *parts)
        assert abs(float(least[1]) - expected) <= 0.03, (least[0], parts)

    # --memory: the consumers' peaks on both backlogs, and how much each grew.
    for sink in ("jsonl", "store", "redis"):
        peaks = re.findall(
            rf"^  consume_changes {sink}\s+\d+\.\d\d s .* peak\s+(\d+\.\d) MB", result.stdout, re.M
        )
        assert len(peaks) == 2, result.stdout
        grew = printed(
            rf"^  {sink}: peak memory grew ([+-]\d+\.\d) MB from 1,000 to 2,000 changes "
            r"\(goal <= 10 MB: (ok|OVER GOAL)\)$"
        )
        assert abs(float(grew[1]) - (float(peaks[1]) - float(peaks[0]))) <= 0.11
        assert (grew[2] == "ok") == (float(grew[1]) <= 10)

    assert source.sql("SELECT datname FROM pg_database WHERE datname = %s", [name]) == []
    slots = "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s"
    assert source.sql(slots, [f"{name}%"]) == []


@pytest.mark.parametrize(
    "arguments, exit_code, error",
    [
        (["--baseline", "/"], 2, "--baseline /: no manage.py there (give a project's folder)"),
        (["--changes", "150"], 2, "--changes and --memory must be multiples of 100"),
        (["--memory", "1000"], 2, "--memory must be more changes than --changes"),
        # Nothing listens on port 1; the password is not printed.
        ([], 1, "Cannot use postgres://me:***@localhost:1/x: "),
    ],
    ids=["baseline-not-a-project", "changes-not-whole-transactions", "memory-smaller", "no-server"],
)
def test_the_benchmark_refuses_bad_input_in_one_line(arguments, exit_code, error):
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/changefeed_throughput.py",
            "postgres://me:s3cret@localhost:1/x",
        ]
        + arguments,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == exit_code
    assert error in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr


def test_the_benchmark_refuses_a_server_or_redis_it_cannot_use_before_any_work(source):
    role = f"bench_{uuid.uuid4().hex[:8]}"
    source.sql(f"CREATE ROLE {role} LOGIN CREATEDB REPLICATION PASSWORD 'pw'")
    for url, options, error in (
        (source.url(role, "pw"), [], "connect as the server's postgres superuser"),
        (source.url(), ["--redis-url", "redis://127.0.0.1:1/0"], "Cannot use --redis-url "),
    ):
        result = subprocess.run(
            [sys.executable, "benchmarks/changefeed_throughput.py", url, *options],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert error in result.stderr.splitlines()[-1], result.stderr
        assert "Traceback" not in result.stderr and "Building" not in result.stdout


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


def test_the_benchmark_reads_a_walsenders_cpu_and_no_other_process(source):
    spec = importlib.util.spec_from_file_location(
        "changefeed_throughput", PROJECT / "benchmarks" / "changefeed_throughput.py"
    )
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    replication = psycopg2.connect(
        source.url(), connection_factory=psycopg2.extras.PhysicalReplicationConnection
    )
    try:
        cpu = benchmark.walsender_cpu_seconds(replication.get_backend_pid())  # its walsender
        assert cpu is not None and cpu >= 0
    finally:
        replication.close()
    assert benchmark.walsender_cpu_seconds(os.getpid()) is None  # not a walsender
