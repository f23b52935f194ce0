"""Each sink once, end to end, in the quick suite: three changes in, the same three out.

The deep suites (test_consume_changes.py, test_redis_sink.py...) try every option and fault.
"""

import json
import uuid

import redis

from changefeed.tests.redis_servers import STREAM, durable_redis  # noqa: F401 (fixture)
from changefeed.tests.source_databases import TABLE

INSERT = (
    f"INSERT INTO {TABLE} (id, title, notes, done, created_at, updated_at) "
    "VALUES (%s, 'smoke', '', false, now(), now())"
)


def three_changes(source):
    assert source.manage("changefeed_slot", "create").returncode == 0
    row = str(uuid.uuid4())
    source.transaction((INSERT, [row]))
    source.transaction((f"UPDATE {TABLE} SET done = true WHERE id = %s", [row]))
    source.transaction((f"DELETE FROM {TABLE} WHERE id = %s", [row]))
    return [("insert", row), ("update", row), ("delete", row)]


def consume(source, *args, verbosity="0"):
    result = source.manage("consume_changes", "--idle-timeout", "1", "-v", verbosity, *args)
    assert result.returncode == 0, result.stderr
    return result


def history(changes):
    return [(change["operation"], change["primary_key"]["id"]) for change in changes]


def test_the_store_sink(source):
    happened = three_changes(source)

    consume(source)

    assert history(source.events()) == happened


def test_the_jsonl_sink(source):
    happened = three_changes(source)

    result = consume(source, "--sink", "jsonl", "--progress-every", "0.1", verbosity="1")

    assert history(json.loads(line) for line in result.stdout.splitlines()) == happened
    assert "3 events written, " in result.stderr and "stored" not in result.stderr


def test_the_redis_sink(source, durable_redis):  # noqa: F811
    happened = three_changes(source)

    consume(source, "--sink", "redis", "--redis-url", durable_redis.url)

    client = redis.Redis.from_url(durable_redis.url)
    try:
        entries = client.xrange(STREAM)
    finally:
        client.close()
    assert history(json.loads(fields[b"change"]) for _, fields in entries) == happened
