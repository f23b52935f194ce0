"""Values that once stopped the feed, or changed on the way: every sink delivers them exactly.

json and jsonb values travel as the server wrote them (no round trip through Python numbers or
dicts); a json value that jsonb cannot hold is stored as its text, marked.
"""

import json
from decimal import Decimal

import pytest
import redis

from changefeed.sinks.store import JSON_TEXT
from changefeed.tests.redis_servers import durable_redis  # noqa: F401 (fixture)

# Deep: every sink with every odd value.
# Left out of the default run; `pytest -m deep` runs it.
pytestmark = pytest.mark.deep

TABLE = "poison"
# json text -> whether jsonb can hold it too
VALUES = {
    1: '{"n": 18446744073709551616}',  # past 64 bits
    2: '{"n": 1e400}',  # past a double
    3: "0.1000000000000000000001",  # past a double's precision
    4: "1e-400",  # below a double's range
    5: '{"z": 1, "a": 2, "z": 3}',  # duplicate keys: json keeps them, jsonb keeps the last
    6: '{\n  "a": [1,\r\n 2]\n}',  # line breaks between tokens
    7: '{"s": "a\\u0000b"}',  # NUL: json takes it, jsonb refuses it
    8: '{\t"t":\t[1,\t2]}',  # tabs between tokens: COPY's column separator
}
NOT_JSONB = {7}


def exact(text):
    """A JSON text's parse with nothing lost: exact numbers, every key in order."""
    return json.loads(text, parse_float=Decimal, object_pairs_hook=list)


@pytest.fixture
def poisoned(source):
    source.sql(f"CREATE TABLE {TABLE} (id int PRIMARY KEY, j json, b jsonb, n numeric)")
    result = source.manage("changefeed_slot", "create", "--tables", TABLE)
    assert result.returncode == 0, result.stderr
    for key, text in VALUES.items():
        source.sql(
            f"INSERT INTO {TABLE} VALUES (%s, %s, %s, 0.1000000000000000000001)",
            [key, text, None if key in NOT_JSONB else text],
        )
    return source


def consume(source, *args):
    result = source.manage(
        "consume_changes", "--tables", TABLE, "--idle-timeout", "1", "-v", "0", *args
    )
    assert result.returncode == 0, result.stderr
    return result


def server_text(source, key, column):
    [row] = source.sql(f"SELECT {column}::text AS v FROM {TABLE} WHERE id = %s", [key])
    return row["v"]


def assert_exact(source, news):
    """`news`: id -> the `new` object of its change, as a JSON text."""
    assert sorted(news) == sorted(VALUES)
    for key, new in news.items():
        fields = dict(exact(new))
        assert fields["j"] == exact(server_text(source, key, "j")), key
        if key not in NOT_JSONB:
            assert fields["b"] == exact(server_text(source, key, "b")), key
        assert fields["n"] == "0.1000000000000000000001"  # numeric: exact, as text


def new_objects(lines):
    """id -> the `new` object's JSON text, cut from each line as it was written."""
    news = {}
    for line in lines:
        start = line.index('"new":') + len('"new":')
        end = line.index(',"unchanged_toast"')
        news[dict(exact(line))["new"][0][1]] = line[start:end]
    return news


def test_jsonl_delivers_every_value_exactly_and_keeps_going(poisoned):
    result = consume(poisoned, "--sink", "jsonl")

    lines = result.stdout.splitlines()
    assert len(lines) == len(VALUES)  # no value broke a line
    assert_exact(poisoned, new_objects(lines))


def test_redis_delivers_every_value_exactly(poisoned, durable_redis):  # noqa: F811
    consume(poisoned, "--sink", "redis", "--redis-url", durable_redis.url)

    client = redis.Redis.from_url(durable_redis.url)
    try:
        entries = client.xrange(f"changefeed.public.{TABLE}")
    finally:
        client.close()
    lines = [value.decode() for _, fields in entries for value in fields.values()]
    assert_exact(poisoned, new_objects(lines))


def test_the_store_holds_every_value_and_marks_what_jsonb_cannot(poisoned):
    consume(poisoned)

    rows = poisoned.sql(
        f"SELECT p.id, e.new -> 'j' = p.j::jsonb AS j_equal, e.new -> 'b' = p.b AS b_equal, "
        f"e.new -> 'j' ->> '{JSON_TEXT}' AS j_text "
        f"FROM changefeed_changeevent e JOIN {TABLE} p ON (e.primary_key ->> 'id')::int = p.id "
        "WHERE p.id <> ALL(%s) ORDER BY p.id",
        [list(NOT_JSONB)],
    )
    assert [(row["id"], row["j_equal"], row["b_equal"]) for row in rows] == [
        (key, True, True) for key in sorted(set(VALUES) - NOT_JSONB)
    ]
    # The NUL: kept as the server's text, marked; nothing lost.
    [marked] = poisoned.sql(
        f"SELECT new -> 'j' ->> '{JSON_TEXT}' AS text FROM changefeed_changeevent "
        "WHERE primary_key ->> 'id' = '7'"
    )
    assert marked["text"] == server_text(poisoned, 7, "j")
