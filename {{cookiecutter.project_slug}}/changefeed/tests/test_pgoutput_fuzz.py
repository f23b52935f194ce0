"""Malformed pgoutput bytes: a clear decode error naming type and offset, never a hang or a crash.

Property-based: hypothesis truncates, corrupts and extends the messages captured from a real
server (pgoutput_capture.json) and throws random bytes at the decoder.
"""

import contextlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changefeed.pgoutput import PgOutputDecodeError, decode_message
from changefeed.tests.test_transactions import CompleteDecoderOnly
from changefeed.transactions import ProtocolError, TransactionAssembler

pytestmark = pytest.mark.faults

CAPTURE = json.loads(Path(__file__).with_name("pgoutput_capture.json").read_text())
MESSAGES = [bytes.fromhex(row["data"]) for row in CAPTURE["text"] + CAPTURE["binary"]]
NAMED_ERROR = re.compile(r"pgoutput (\w[\w ]*) \('(.)'\) message .* at byte (\d+) of (\d+)")

messages = st.sampled_from(MESSAGES)
fast = settings(max_examples=400, deadline=200)


def assert_names_type_and_offset(error, data):
    match = NAMED_ERROR.search(str(error))
    assert match, str(error)
    letter, offset, size = match.group(2), int(match.group(3)), int(match.group(4))
    assert letter == chr(data[0]) and size == len(data) and 0 < offset <= size


@fast
@given(messages, st.data())
def test_a_truncated_message_is_always_a_named_error(message, data):
    cut = data.draw(st.integers(min_value=1, max_value=len(message) - 1))
    truncated = message[:cut]
    with pytest.raises(PgOutputDecodeError) as error:
        decode_message(truncated)
    assert_names_type_and_offset(error.value, truncated)


@fast
@given(messages, st.binary(min_size=1, max_size=16))
def test_bytes_after_a_message_are_always_a_named_error(message, extra):
    with pytest.raises(PgOutputDecodeError) as error:
        decode_message(message + extra)
    assert_names_type_and_offset(error.value, message + extra)


@fast
@given(messages, st.data())
def test_a_corrupted_message_decodes_or_fails_cleanly(message, data):
    position = data.draw(st.integers(min_value=1, max_value=len(message) - 1))
    corrupted = bytearray(message)
    corrupted[position] = data.draw(st.integers(0, 255).filter(lambda b: b != message[position]))
    try:
        decoded = decode_message(bytes(corrupted))
    except PgOutputDecodeError as error:
        assert_names_type_and_offset(error, corrupted)
    else:
        # A flipped byte inside a value or a number can still be a well-formed message; it must
        # then be a message of the same kind that used every byte.
        assert type(decoded) is type(decode_message(message))


@fast
@given(st.binary(min_size=0, max_size=64))
def test_random_bytes_only_ever_raise_the_decoders_own_error(data):
    with contextlib.suppress(PgOutputDecodeError):
        decode_message(data)


ROW_CHANGES = [
    (index, bytes.fromhex(row["data"]))
    for index, row in enumerate(CAPTURE["text"])
    if row["data"][:2] in ("49", "55", "44")  # I, U, D
]


def outcome(assembler_class, prefix, message):
    """What an assembler makes of `message` after the messages before it: its change, or the
    error it raises."""
    assembler = assembler_class()
    for earlier in prefix:
        assembler.receive(earlier, 1)
    try:
        assembler.receive(message, 2)
    except (PgOutputDecodeError, ProtocolError) as error:
        return type(error), str(error)
    changes = assembler._current.changes
    return [{name: getattr(change, name) for name in change.__slots__} for change in changes]


@fast
@given(st.sampled_from(ROW_CHANGES), st.data())
def test_a_damaged_row_change_reads_on_the_hot_path_as_the_complete_decoder_reads_it(indexed, data):
    # Every message before it, so that its transaction and Relation are known.
    index, message = indexed
    prefix = [bytes.fromhex(row["data"]) for row in CAPTURE["text"][:index]]
    damaged = bytearray(message)
    how = data.draw(st.sampled_from(["truncate", "extend", "flip"]))
    if how == "truncate":
        damaged = damaged[: data.draw(st.integers(1, len(message) - 1))]
    elif how == "extend":
        damaged += data.draw(st.binary(min_size=1, max_size=8))
    else:
        position = data.draw(st.integers(1, len(message) - 1))
        damaged[position] = data.draw(st.integers(0, 255))
    damaged = bytes(damaged)
    assert outcome(TransactionAssembler, prefix, damaged) == outcome(
        CompleteDecoderOnly, prefix, damaged
    )
