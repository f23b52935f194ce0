"""The redis sink under faults: SIGKILLed consumers and a crashing Redis lose and duplicate
nothing. As in test_faults.py, the streams are compared with the audit trigger's history."""

import random
import signal
import socket
import time

import pytest
import redis

from changefeed.sinks.redis_streams import RedisStreamsSink
from changefeed.tests.redis_servers import STREAM, DurableRedis, entries
from changefeed.tests.test_faults import Writer, audited
from changefeed.tests.test_redis_sink import (
    READ,
    READ_TABLE,
    STREAM_TABLE,
    consume_into,
    inserts,
    many_changes,
    start_reader,
)

pytestmark = pytest.mark.faults


def redis_history(source, url):
    """What happened (the audit trigger) and what Redis holds, as comparable lists."""
    audit = [
        (row["xid"] % 2**32, row["op"], row["id"])
        for row in source.sql("SELECT xid, op, id FROM audit ORDER BY seq")
    ]
    held = [
        (change["xid"], change["operation"], change["primary_key"]["id"])
        for _, _, change in entries(url)
    ]
    return audit, held


def assert_exactly_once_in_redis(source, url):
    audit, held = redis_history(source, url)
    assert audit, "the scenario should have changed something"
    duplicated = len(held) - len(set(held))
    lost = len(set(audit) - set(held))
    assert (lost, duplicated) == (0, 0), f"{lost} changes lost, {duplicated} duplicated"
    assert held == audit, "changes held out of order"
    ids = [entry_id for entry_id, _, _ in entries(url)]
    assert ids == sorted(ids, key=lambda entry_id: tuple(map(int, entry_id.split("-"))))
    return len(audit)


def redis_consumer(source, url, *args):
    return source.start("consume_changes", "--sink", "redis", "--redis-url", url, *args)


def drain_into(source, url):
    result = source.manage(
        "consume_changes",
        *("--sink", "redis", "--redis-url", url, "--idle-timeout", "2", "-v", "0"),
    )
    assert result.returncode == 0, result.stderr


def stored(url):
    """How many entries the stream holds (XLEN: no entry is read)."""
    client = redis.Redis.from_url(url)
    try:
        return client.xlen(STREAM)
    finally:
        client.close()


def test_crash_loop_20_sigkills_lose_and_duplicate_nothing_in_redis(
    source, durable_redis, record_property
):
    audited(source)
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    writer = Writer(source.url(), seed)
    writer.start()
    held_at_kill = []
    try:
        for _ in range(20):
            before = stored(durable_redis.url)
            consumer = redis_consumer(
                source,
                durable_redis.url,
                "--batch-size",
                str(rng.choice([50, 500, 5000])),
                "-v",
                "0",
            )
            # Killed by recorded progress, not by the clock (a loaded machine may not have
            # started the consumer yet): once this run has added entries, at a random moment.
            source.wait_for(
                lambda before=before: stored(durable_redis.url) > before,
                what="the consumer to add entries",
            )
            time.sleep(rng.uniform(0, 0.3))
            consumer.send_signal(signal.SIGKILL)
            consumer.communicate(timeout=30)
            held_at_kill.append(stored(durable_redis.url))
    finally:
        writer.stop()
    drain_into(source, durable_redis.url)

    checked = assert_exactly_once_in_redis(source, durable_redis.url)
    record_property("seed", seed)
    print(f"seed {seed}: 20 SIGKILLs, {writer.committed} transactions, {checked} changes checked")
    assert len(set(held_at_kill)) > 5, held_at_kill


def test_a_batch_a_restarted_redis_answers_while_loading_is_retried(tmp_path, caplog):
    # Until it has read its append-only file back, a restarted Redis answers LOADING: the batch
    # is retried, as for a Redis that is down, not refused.
    with DurableRedis(tmp_path, "--enable-debug-command", "yes") as server:
        sink = RedisStreamsSink("slot", server.url)
        sink.checkpoint()
        batch = inserts(100, [STREAM_TABLE] * 10)
        sink.write(batch, sink.encode(batch))
        client = redis.Redis.from_url(server.url)
        client.execute_command("DEBUG", "POPULATE", 2_000_000)  # enough to load for a while
        client.bgrewriteaof()
        while client.info("persistence")["aof_rewrite_in_progress"]:
            time.sleep(0.1)
        sink.redis.connection_pool.disconnect()  # the next batch on a new connection
        server.kill()
        server.start()
        loading = redis.Redis.from_url(server.url).info("persistence")["loading"]
        batch = inserts(200, [STREAM_TABLE] * 10)
        sink.write(batch, sink.encode(batch))

        assert loading == 1
        assert "loading the dataset" in caplog.text
        assert [entry_id for entry_id, _, _ in entries(server.url)] == [
            *(f"100-{n}" for n in range(10)),
            *(f"200-{n}" for n in range(10)),
        ]


def test_a_redis_crash_mid_stream_is_survived(source, durable_redis):
    audited(source)
    writer = Writer(source.url(), seed=3)
    writer.start()
    consumer = redis_consumer(source, durable_redis.url)
    try:
        for _ in range(2):
            before = len(entries(durable_redis.url))
            source.wait_for(
                lambda before=before: len(entries(durable_redis.url)) > before + 500,
                what="the consumer to stream",
            )
            durable_redis.restart_after_a_crash()
        source.wait_for(lambda: len(entries(durable_redis.url)) > 0, what="the consumer to resume")
    finally:
        writer.stop()
    audit_length = len(redis_history(source, durable_redis.url)[0])
    source.wait_for(
        lambda: len(entries(durable_redis.url)) >= audit_length,
        timeout=90,
        what="Redis to catch up",
    )
    consumer.send_signal(signal.SIGTERM)
    _, stderr = consumer.communicate(timeout=60)

    assert consumer.returncode == 0, stderr
    assert "Redis unavailable" in stderr
    assert_exactly_once_in_redis(source, durable_redis.url)


def test_a_reader_waits_out_a_redis_crash_and_reads_on(source, durable_redis):
    source.sql(READ_TABLE)
    source.manage("changefeed_slot", "create")
    before = many_changes(source, transactions=10)
    consume_into(source, durable_redis.url)
    reader = start_reader(source, durable_redis.url, "--idle-timeout", "5")
    source.wait_for(lambda: len(source.sql(READ)) == len(before), what="the first entries read")

    durable_redis.restart_after_a_crash()  # the reader is waiting in XREADGROUP ... BLOCK
    after = many_changes(source, transactions=10)
    consume_into(source, durable_redis.url)
    _, stderr = reader.communicate(timeout=60)

    assert reader.returncode == 0, stderr
    assert "unavailable" in stderr  # it did lose Redis, and kept going
    # Every entry was acknowledged before the crash (appendfsync always): none is read twice.
    assert sorted(row["row_id"] for row in source.sql(READ)) == sorted(before + after)


def unreachable_redis_url():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{unused.getsockname()[1]}/0"


def test_a_reader_gives_up_after_max_downtime(source):
    url = unreachable_redis_url()
    started = time.monotonic()
    result = source.manage(
        "read_changes",
        *("--redis-url", url, "--stream", STREAM, "--max-downtime", "1.5"),
        *("--handler", "changefeed.tests.handlers.record_read", "-v", "0"),
    )

    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"CommandError: Cannot reach Redis at {url} (for "), last_line
    assert "limit --max-downtime 1.5s" in last_line and "Traceback" not in result.stderr
    assert time.monotonic() - started < 30


def test_a_reader_waiting_for_redis_stops_cleanly_when_asked(source):
    reader = source.start(
        "read_changes",
        *("--redis-url", unreachable_redis_url(), "--stream", STREAM),
        *("--handler", "changefeed.tests.handlers.record_read"),
    )
    time.sleep(2)  # retrying by now
    reader.send_signal(signal.SIGTERM)
    _, stderr = reader.communicate(timeout=30)

    assert reader.returncode == 0, stderr
    assert "unavailable" in stderr and "Traceback" not in stderr


def test_a_consumer_waiting_for_redis_stops_cleanly_when_asked(source):
    source.manage("changefeed_slot", "create")
    many_changes(source, 10)
    consumer = redis_consumer(source, unreachable_redis_url())
    time.sleep(3)  # retrying by now
    consumer.send_signal(signal.SIGTERM)
    _, stderr = consumer.communicate(timeout=30)

    assert consumer.returncode == 0, stderr
    assert "Redis unavailable" in stderr and "Traceback" not in stderr
    assert "Stopped while Redis at redis://127.0.0.1:" in stderr
    assert "is retried on restart" in stderr
