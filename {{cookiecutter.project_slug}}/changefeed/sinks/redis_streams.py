"""The redis sink: each change one entry of a Redis stream, exactly once, with no state besides
the streams themselves.

Each entry's ID is `<commit LSN>-<position in the transaction>`: IDs grow in commit order, in
every stream, so what a stream already holds is told by its last ID alone. A batch is added in
one MULTI/EXEC, which Redis applies whole (and writes to its append-only file whole). Before
adding, entries at or below their stream's last ID are dropped: after a crash, a lost reply or a
reconnect, what Redis already has is never written twice. Redis must make a write durable before
it answers (see `durability_problem`), so that what Postgres is then told is safe is safe.
"""

import dataclasses
import logging
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

import orjson
import redis
from redis.exceptions import AuthenticationError, BusyLoadingError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from changefeed.envelopes import DebeziumEnvelope, feed_objects, json_objects
from changefeed.models import SnapshotProgress
from changefeed.replication import ChangeFeedError
from changefeed.sinks import SinkStopped
from changefeed.transactions import SnapshotStep, Transaction

logger = logging.getLogger(__name__)

TABLE_PLACEHOLDER = "{table}"
DEFAULT_STREAM = f"changefeed.{TABLE_PLACEHOLDER}"
FEED_FIELD = b"change"
# Debezium Server's Redis sink names an entry's one field after the record's key, and uses this
# when there is none (its null.key default): a truncation's entry.
NO_KEY = b"default"
# Where a snapshot's progress is kept, a key per table: written in the MULTI/EXEC of its rows.
SNAPSHOT_KEY = "changefeed.snapshot.{slot}:"
MULTI = b"*1\r\n$5\r\nMULTI\r\n"
EXEC = b"*1\r\n$4\r\nEXEC\r\n"
OK = b"+OK\r\n"
QUEUED = b"+QUEUED\r\n"
# What Redis answers an XADD at or below its stream's last ID: another writer has added past it.
ID_NOT_PAST_THE_END = b"-ERR The ID specified in XADD is equal or smaller"
# What a restarting, unreachable or loading Redis raises (BusyLoadingError is a ConnectionError).
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)
StreamId = tuple[int, int]


def bulk(value: bytes) -> bytes:
    """One argument of a command, in Redis' wire protocol (RESP)."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


def reply_id(reply: bytes) -> bytes:
    """The ID in XADD's reply, "$<length>\\r\\n<ID>\\r\\n"."""
    return reply.split(b"\r\n")[1]


def parse_stream_id(value: bytes) -> StreamId:
    milliseconds, _, sequence = value.partition(b"-")
    return int(milliseconds), int(sequence or 0)


def differing_reply(sock: socket.socket, expected: bytes) -> bytes | None:
    """Read Redis' answer to a MULTI/EXEC, as long as `expected`: None when it is `expected`,
    else the first reply line that differs (an error, say: "-OOM command not allowed ...").

    A batch's whole answer is known before it is sent (OK, a QUEUED per command, then the IDs),
    so it is compared as bytes, not parsed: a QUEUED at a time, redis-py's parser took more of
    the consumer's CPU than formatting the entry did. A reply that differs is read on to its end
    of line only; the caller drops the connection, and with it any replies after it.
    """
    received = bytearray(len(expected))
    view = memoryview(received)
    done = 0
    while done < len(expected):
        count = sock.recv_into(view[done:])
        if count == 0:
            raise ConnectionResetError("Redis closed the connection")
        if view[done : done + count] != expected[done : done + count]:
            differs = next(i for i in range(done, done + count) if received[i] != expected[i])
            start = received.rfind(b"\n", 0, differs) + 1
            line = bytes(received[start : done + count])
            while b"\r\n" not in line and (more := sock.recv(4096)):
                line += more
            return line.split(b"\r\n", 1)[0][:500]
        done += count
    return None


def credentials_refused(url: str, error: Exception) -> str:
    """What to say when Redis refuses to let the URL's user in."""
    parts = urllib.parse.urlsplit(url)
    if not parts.password and "password=" not in parts.query:
        return (
            f"Redis at {redis_location(url)} asks for a password and --redis-url "
            "(CHANGEFEED_REDIS_URL) has none: put it in the URL, redis://:PASSWORD@host:port/0."
        )
    return (
        f"Redis at {redis_location(url)} refused the credentials ({error}): check the user and "
        "password in --redis-url (CHANGEFEED_REDIS_URL)."
    )


def validate_stream_template(template: str) -> None:
    """A stream name, in which `{table}` stands for the qualified table name."""
    rest = template.replace(TABLE_PLACEHOLDER, "")
    if not template or "{" in rest or "}" in rest:
        raise ChangeFeedError(
            f"Stream name {template!r} may contain {TABLE_PLACEHOLDER} (the qualified table "
            f"name) and no other braces, e.g. {DEFAULT_STREAM}."
        )


def redis_location(url: str) -> str:
    """The URL without its user, password or query (which may hold a password), for messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))


def durability_problem(config: dict) -> str | None:
    """Why a Redis with this configuration (CONFIG GET) could lose an entry it has acknowledged,
    or None.

    With appendfsync always, Redis writes and fsyncs its append-only file before it answers, so
    an answered script is on disk. (everysec can lose the last second's writes in a crash, and
    WAITAOF, which could wait for the fsync, arrived only in Redis 7.2.) A maxmemory-policy that
    evicts any key (allkeys-*) may evict a stream; volatile-* evicts only keys with a TTL.
    """
    if config.get("appendonly") != "yes":
        return (
            "runs with appendonly no, so a restart loses entries Postgres has been told are "
            "safe: set appendonly yes and appendfsync always"
        )
    if config.get("appendfsync") != "always":
        return (
            f"runs with appendfsync {config.get('appendfsync')}, so a crash can lose entries "
            "Postgres has been told are safe: set appendfsync always"
        )
    if config.get("maxmemory-policy", "").startswith("allkeys"):
        return (
            f"runs with maxmemory-policy {config['maxmemory-policy']}, which may evict a stream: "
            "set maxmemory-policy noeviction"
        )
    return None


@dataclass(slots=True)
class StreamEntries:
    """A batch's entries, in commit order: each one's stream, its XADD command and XADD's reply
    (its ID), both in Redis' wire protocol (RESP); and each stream's first and last ID."""

    streams: list[bytes] = field(default_factory=list)
    commands: list[bytes] = field(default_factory=list)
    replies: list[bytes] = field(default_factory=list)
    first: dict[bytes, StreamId] = field(default_factory=dict)
    last: dict[bytes, StreamId] = field(default_factory=dict)
    steps: list[SnapshotStep] = field(default_factory=list)
    step_keys: list[bytes] = field(default_factory=list)
    step_commands: list[bytes] = field(default_factory=list)  # a SET each, answered +OK

    def after(self, last_ids: dict[bytes, StreamId]) -> list[int]:
        """Which entries (indices) come after their stream's last ID."""
        # Read back from the replies: needed only after a restart or a lost reply.
        ids = (parse_stream_id(reply_id(reply)) for reply in self.replies)
        return [
            index
            for index, (stream, entry_id) in enumerate(zip(self.streams, ids, strict=True))
            if entry_id > last_ids[stream]
        ]

    def ids_in(self, stream: bytes) -> list[bytes]:
        """The IDs of the entries for `stream`."""
        return [
            reply_id(reply)
            for entry_stream, reply in zip(self.streams, self.replies, strict=True)
            if entry_stream == stream
        ]

    def foreign(self, last_ids: dict[bytes, StreamId]) -> list[bytes]:
        """The streams that end past the batch's start but not at its end: a MULTI/EXEC adds a
        batch whole, so such a stream has another writer's entries."""
        return [
            stream
            for stream, first in self.first.items()
            if first <= last_ids[stream] != self.last[stream]
        ]

    def transaction(self, keep: Sequence[int] | None = None) -> tuple[bytes, bytes]:
        """MULTI, an XADD per entry (or per entry `keep` names), a SET per snapshot step, EXEC;
        and all Redis answers when all goes well: OK, a QUEUED per command, then EXEC's array
        of the IDs added and the SETs' OKs."""
        if keep is None:
            commands, replies = self.commands, self.replies
        else:
            commands = [self.commands[index] for index in keep]
            replies = [self.replies[index] for index in keep]
        count = len(commands) + len(self.step_commands)
        answer = [OK, QUEUED * count, b"*%d\r\n" % count, *replies, OK * len(self.step_commands)]
        return b"".join([MULTI, *commands, *self.step_commands, EXEC]), b"".join(answer)


class RedisStreamsSink:
    """Adds each change to a Redis stream (one per table by default), exactly once.

    `stream` names the streams, `{table}` standing for the qualified table name. `maxlen` trims
    each stream to about that many entries as it grows (XADD MAXLEN ~). `envelope` writes
    Debezium's envelope, in the one field Debezium Server's Redis sink writes (named after the
    record's key); otherwise the feed's own format, in the field `change`.
    """

    def __init__(
        self,
        slot: str,
        url: str,
        *,
        stream: str = DEFAULT_STREAM,
        maxlen: int = 0,
        envelope: DebeziumEnvelope | None = None,
        max_downtime: float = 300.0,
        check_durability: bool = True,
        database: str | None = None,
    ):
        validate_stream_template(stream)
        self.slot = slot
        self.database = database
        self.snapshot_key = SNAPSHOT_KEY.format(slot=slot)
        self.url = url
        self.location = redis_location(url)
        # Generous timeouts: a large batch is one script, and Redis fsyncs before it answers.
        self.redis = redis.Redis.from_url(
            url, socket_connect_timeout=10, socket_timeout=120, socket_keepalive=True
        )
        self.stream_template = stream
        # XADD <stream> [MAXLEN ~ <n>] <ID> <field> <value>: 5 or 8 arguments.
        self.xadd = b"*5\r\n$4\r\nXADD\r\n"
        if maxlen:
            self.xadd = b"*8\r\n$4\r\nXADD\r\n"
            self.trim = b"$6\r\nMAXLEN\r\n$1\r\n~\r\n" + bulk(b"%d" % maxlen)
        else:
            self.trim = b""
        self.envelope = envelope
        self.objects_of = envelope.objects if envelope else partial(feed_objects, slot)
        self.max_downtime = max_downtime
        self.check_durability = check_durability
        self._streams: dict[str, bytes] = {}  # table name -> stream name
        self._xadd_to: dict[bytes, bytes] = {}  # stream name -> XADD's arguments up to the ID
        self._last_ids: dict[bytes, StreamId] = {}  # the writer's view of each stream's end
        self.stopping = threading.Event()  # set by stop(): an outage is no longer waited out
        self.checkpoint_source: str | None = None  # where checkpoint() found it, for messages

    def stop(self) -> None:
        """Stop waiting for Redis to come back (the consumer is asked to stop)."""
        self.stopping.set()

    # --- Sink ------------------------------------------------------------------------------

    def checkpoint(self) -> int:
        """Just past the last commit Redis holds: Postgres resumes after it."""
        return self._retrying(self._checkpoint)

    def snapshot_steps(self) -> dict[str, SnapshotStep]:
        """The snapshot steps Redis holds, written with their rows (see `encode`)."""
        return self._retrying(self._snapshot_steps)

    def encode(self, transactions: Sequence[Transaction]) -> StreamEntries:
        # Called for every change of the feed: RESP is formatted with few operations per entry.
        entries = StreamEntries()
        streams, commands, replies = entries.streams, entries.commands, entries.replies
        first, last = entries.first, entries.last
        stream_of, xadd_to = self._streams, self._xadd_to
        feed_field = bulk(FEED_FIELD)
        values = iter(json_objects(self.objects_of(transactions)))
        stream = None  # the stream of the entries before, and the last of their IDs
        last_id = None
        for tx in transactions:
            commit_lsn = tx.commit_lsn
            for change, value in zip(tx.changes, values):  # noqa: B905 (one value per change)
                table_stream = stream_of.get(change.table_name)
                if table_stream is None:
                    table_stream = self._new_stream(change.table_name)
                if table_stream is not stream:  # each stream's first and last ID, in runs
                    if stream is not None:
                        last[stream] = last_id
                    stream = table_stream
                    first.setdefault(stream, (commit_lsn, change.position))
                last_id = (commit_lsn, change.position)
                if self.envelope is None:
                    packed_field = feed_field
                else:
                    packed_field = bulk(self.envelope.key(change) or NO_KEY)
                raw_id = b"%d-%d" % last_id
                reply = b"$%d\r\n%b\r\n" % (len(raw_id), raw_id)  # the ID, as XADD has it
                commands.append(
                    b"%b%b%b$%d\r\n%b\r\n"
                    % (xadd_to[stream], reply, packed_field, len(value), value)
                )
                replies.append(reply)
                streams.append(stream)
            if tx.snapshot is not None:
                # A snapshot's progress goes in the same MULTI/EXEC as its rows: exactly once.
                key = (self.snapshot_key + tx.snapshot.table).encode()
                step = orjson.dumps(dataclasses.asdict(tx.snapshot))
                entries.steps.append(tx.snapshot)
                entries.step_keys.append(key)
                entries.step_commands.append(b"*3\r\n$3\r\nSET\r\n%b%b" % (bulk(key), bulk(step)))
        if stream is not None:
            last[stream] = last_id
        return entries

    def write(self, transactions: Sequence[Transaction], entries: StreamEntries) -> None:
        if entries.streams or entries.steps:
            self._retrying(self._add, entries)
        if entries.steps and self.database:
            # Shown in the admin and by changefeed_snapshot; the record that counts is Redis'.
            SnapshotProgress.objects.using(self.database).record(self.slot, entries.steps)

    # --- The streams -------------------------------------------------------------------------

    def _new_stream(self, table_name: str) -> bytes:
        stream = self._streams[table_name] = self.stream_name(table_name).encode()
        self._xadd_to[stream] = self.xadd + bulk(stream) + self.trim
        return stream

    def stream_name(self, table_name: str) -> str:
        return self.stream_template.replace(TABLE_PLACEHOLDER, table_name)

    def existing_streams(self) -> list[bytes]:
        """The streams this sink's stream names can match, as SCAN finds them."""
        escaped = re.sub(r"([*?\[\]\\])", r"\\\1", self.stream_template)
        pattern = escaped.replace(TABLE_PLACEHOLDER, "*")
        return list(self.redis.scan_iter(match=pattern, count=1000, _type="stream"))

    def last_ids(self, streams: Iterable[bytes]) -> dict[bytes, StreamId]:
        """Each stream's last ID (0-0 when it does not exist). The last *generated* ID: the
        newest entry may have been deleted since, and XADD still refuses an ID at or below it."""
        streams = list(streams)
        pipeline = self.redis.pipeline(transaction=False)
        for stream in streams:
            pipeline.xinfo_stream(stream)
        found = {}
        for stream, info in zip(streams, pipeline.execute(raise_on_error=False), strict=True):
            if isinstance(info, ResponseError):
                if "no such key" not in str(info).lower():
                    raise info
                found[stream] = (0, 0)
            else:
                found[stream] = parse_stream_id(info["last-generated-id"])
        return found

    # --- What runs under _retrying -------------------------------------------------------------

    def _checkpoint(self) -> int:
        if self.check_durability:
            self._check_durability()
        self._last_ids.clear()  # the writer reads them again before its first batch
        ends = self.last_ids(self.existing_streams())
        if not ends or max(ends.values()) == (0, 0):
            self.checkpoint_source = None
            return 0
        stream, last_id = max(ends.items(), key=lambda item: item[1])
        self.checkpoint_source = "stream {}, whose last ID is {}-{}".format(
            stream.decode(errors="replace"), *last_id
        )
        return last_id[0] + 1

    def _snapshot_steps(self) -> dict[str, SnapshotStep]:
        steps = {}
        for key in self.redis.scan_iter(match=f"{self.snapshot_key}*", count=1000):
            value = self.redis.get(key)
            if value is not None:
                step = SnapshotStep(**orjson.loads(value))
                steps[step.table] = step
        return steps

    def _add(self, entries: StreamEntries) -> None:
        missing = [stream for stream in entries.first if stream not in self._last_ids]
        if missing:
            self._last_ids.update(self.last_ids(missing))
        last_ids = self._last_ids
        if all(first > last_ids[stream] for stream, first in entries.first.items()):
            before = {stream: last_ids[stream] for stream in entries.first}
            # A snapshot chunk's progress as it was, in case the batch has to be taken back.
            steps_before = self.redis.mget(entries.step_keys) if entries.step_keys else []
            wrong = self._execute(*entries.transaction())
            if wrong is not None and wrong.startswith(ID_NOT_PAST_THE_END):
                self._undo_and_refuse_foreign(entries, before, steps_before)
        else:
            # Redis has the batch already (its reply was lost on the way), unless another
            # writer's entries tell nothing of which of the batch's entries are there.
            for stream in entries.foreign(last_ids):
                self._refuse_foreign(stream, last_ids[stream], entries)
            keep = entries.after(last_ids)
            wrong = None
            if keep or entries.steps:  # the steps again, if any: the same values
                wrong = self._execute(*entries.transaction(keep))
        if wrong is not None:
            self._refused(wrong[1:] if wrong.startswith(b"-") else f"it answered {wrong!r}")
        for stream, entry_id in entries.last.items():
            last_ids[stream] = max(last_ids[stream], entry_id)

    def _execute(self, command: bytes, answer: bytes) -> bytes | None:
        """Send a MULTI/EXEC: None if Redis answers exactly `answer`, else the reply line that
        differs (out of memory, say, or another writer adding to these streams), the
        connection dropped."""
        pool = self.redis.connection_pool
        connection = pool.get_connection()
        try:
            connection.send_packed_command([command])
            # redis-py reads a reply at a time; the answer is read off its socket instead, which
            # holds nothing else between two commands.
            wrong = differing_reply(connection._sock, answer)
            if wrong is not None and wrong.startswith(b"-LOADING"):  # restarted: retried
                raise BusyLoadingError(wrong[1:].decode(errors="replace"))
            if wrong is not None:  # with whatever Redis answers after it
                connection.disconnect()
            return wrong
        except TimeoutError as error:  # socket.timeout
            connection.disconnect()
            raise RedisTimeoutError(f"Timeout reading from Redis: {error}") from error
        except OSError as error:
            connection.disconnect()
            raise RedisConnectionError(f"Error reading from Redis: {error}") from error
        except BaseException:
            connection.disconnect()
            raise
        finally:
            pool.release(connection)

    def _undo_and_refuse_foreign(
        self,
        entries: StreamEntries,
        before: dict[bytes, StreamId],
        steps_before: list[bytes | None],
    ) -> None:
        """A stream had another writer's entry past the batch, so Redis refused the batch's
        XADDs to it, but ran the rest (EXEC does not roll back): take those out again, IDs and
        snapshot progress and all, so that Redis is as it was before the batch, then refuse it."""
        ends = self.last_ids(entries.first)
        added = [stream for stream in entries.first if ends[stream] == entries.last[stream]]
        undo = self.redis.pipeline(transaction=True)
        for stream in added:
            undo.xdel(stream, *entries.ids_in(stream))
            if before[stream] == (0, 0):
                undo.delete(stream)  # the batch made it
            else:
                undo.execute_command("XSETID", stream, "{}-{}".format(*before[stream]))
        for key, value in zip(entries.step_keys, steps_before, strict=True):
            if value is None:
                undo.delete(key)
            else:
                undo.set(key, value)
        undo.execute()
        for stream in entries.foreign(ends):
            self._refuse_foreign(stream, ends[stream], entries)

    def _refuse_foreign(self, stream: bytes, last_id: StreamId, entries: StreamEntries) -> None:
        name = stream.decode(errors="replace")
        last, first, end = (
            "{}-{}".format(*entry_id)
            for entry_id in (last_id, entries.first[stream], entries.last[stream])
        )
        raise ChangeFeedError(
            f"Stream {name} in Redis at {self.location} ends at ID {last}, which this feed did "
            f"not write (its batch in hand is {first} to {end}): another writer adds to it, so "
            "nothing of the batch was added or acknowledged. XDEL that writer's entries and "
            f"XSETID {name} back to this feed's newest entry (XREVRANGE {name} + - COUNT 1), or "
            "consume into another --redis-stream."
        )

    def _refused(self, reason) -> None:
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        elif isinstance(reason, Exception):  # redis-py's class says what its text leaves out
            reason = f"{type(reason).__name__}: {reason}"
        advice = ""
        if reason.startswith("OOM"):
            advice = (
                " Give Redis memory (maxmemory), or trim the streams (--redis-maxlen, or XTRIM "
                "what every consumer group has read), then start the consumer again."
            )
        raise ChangeFeedError(
            f"Redis at {self.location} refused a batch ({reason}); it was not acknowledged, so a "
            f"restart retries what Redis does not have.{advice}"
        )

    def _check_durability(self) -> None:
        try:
            config = self.redis.config_get("*")
        except ResponseError as error:
            raise ChangeFeedError(
                f"Redis at {self.location} refused CONFIG GET ({error}), so the sink cannot check "
                "that it keeps what it acknowledges: make sure it runs with appendonly yes and "
                "appendfsync always, then pass --skip-durability-check."
            ) from None
        config = {
            key.decode() if isinstance(key, bytes) else key: value.decode()
            if isinstance(value, bytes)
            else value
            for key, value in config.items()
        }
        problem = durability_problem(config)
        if problem:
            raise ChangeFeedError(f"Redis at {self.location} {problem} (see docs/changefeed.md).")

    def _retrying(self, operation, *args):
        """Run `operation` until Redis answers, for up to max_downtime seconds."""
        down_since, delay = None, 0.5
        while True:
            try:
                if down_since is not None:
                    # Back after an outage: the same Redis? Check again, and re-read its ends.
                    self._last_ids.clear()
                    if self.check_durability:
                        self._check_durability()
                return operation(*args)
            except AuthenticationError as error:  # a ConnectionError to redis-py: not retried
                raise ChangeFeedError(credentials_refused(self.url, error)) from None
            except UNAVAILABLE as error:
                down_since = down_since or time.monotonic()
                down = time.monotonic() - down_since
                if down >= self.max_downtime:
                    raise ChangeFeedError(
                        f"Could not write to Redis at {self.location} for {down:.0f}s (limit "
                        f"--max-downtime {self.max_downtime:g}s): {error}"
                    ) from None
                logger.warning("Redis unavailable (%s); retrying in %.1fs", error, delay)
                if self.stopping.wait(delay):
                    raise SinkStopped(
                        f"Stopped while Redis at {self.location} was unavailable ({error}); "
                        "what it had not answered for was not acknowledged, and is retried on "
                        "restart."
                    ) from None
                delay = min(delay * 2, 5.0)
