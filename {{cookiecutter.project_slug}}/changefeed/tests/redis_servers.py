"""Redis servers for the redis sink's tests, started by pytest-redis (Debian: apt-get install
redis-server), and what the tests read back from them."""

import shlex
import shutil
import time

import orjson
import port_for
import pytest
import redis
from pytest_redis import factories
from pytest_redis.executor import RedisExecutor

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
STREAM = "changefeed.public.source_rows"  # the default stream name, for the tests' table

# pytest-redis's own server: no append-only file, so it can lose what it acknowledged.
volatile_redis_proc = factories.redis_proc(executable=REDIS_SERVER)


class DurableRedis(RedisExecutor):
    """pytest-redis's redis-server with the persistence the sink requires: an append-only file,
    fsynced before each answer. (pytest-redis's factory has no option for either.)"""

    def __init__(self, datadir, *options):
        super().__init__(
            executable=REDIS_SERVER,
            databases=1,
            redis_timeout=30,
            loglevel="notice",
            host="127.0.0.1",
            port=port_for.select_random(),
            datadir=datadir,
            appendonly="yes",
        )
        self.command_parts = [*self.command_parts, "--appendfsync", "always", *options]
        self.command = shlex.join(self.command_parts)

    @property
    def url(self):
        return f"redis://{self.host}:{self.port}/0"

    def restart_after_a_crash(self):
        """SIGKILL, then start again on the same files (the append-only file)."""
        self.kill()
        self.start()
        client = redis.Redis(host=self.host, port=self.port)
        try:
            # Open once it listens; serving once it has read the append-only file back.
            while True:
                try:
                    client.ping()
                    return
                except redis.exceptions.BusyLoadingError:
                    time.sleep(0.05)
        finally:
            client.close()


@pytest.fixture
def durable_redis(tmp_path_factory):
    with DurableRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def volatile_redis(volatile_redis_proc):
    client = redis.Redis(host=volatile_redis_proc.host, port=volatile_redis_proc.port)
    client.flushall()
    client.close()
    return f"redis://{volatile_redis_proc.host}:{volatile_redis_proc.port}/0"


def entries(url, stream=STREAM):
    """A stream's entries: (ID, field, value as JSON) in order."""
    client = redis.Redis.from_url(url)
    try:
        return [
            (entry_id.decode(), name.decode(), orjson.loads(value))
            for entry_id, fields in client.xrange(stream)
            for name, value in fields.items()
        ]
    finally:
        client.close()
