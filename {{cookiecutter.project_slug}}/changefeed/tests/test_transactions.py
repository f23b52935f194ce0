"""TransactionAssembler on the bytes captured from a real server (see capture_pgoutput.py)."""

import json
from pathlib import Path

import pytest

import changefeed.transactions
from changefeed.lsn import parse_lsn
from changefeed.transactions import ProtocolError, TransactionAssembler

CAPTURE = json.loads(Path(__file__).with_name("pgoutput_capture.json").read_text())
ACCOUNT_A = "6f1d2c3b-4a59-4e8d-9c7b-0a1b2c3d4e5f"
ACCOUNT_B = "11111111-2222-4333-8444-555555555555"
ACCOUNT_B_RENAMED = "99999999-8888-4777-8666-555555555555"


def assemble(rows):
    assembler = TransactionAssembler()
    transactions = []
    for row in rows:
        transaction = assembler.receive(bytes.fromhex(row["data"]), row["lsn_int"])
        if transaction is not None:
            transactions.append(transaction)
    return transactions, assembler


@pytest.fixture(scope="module")
def rows():
    return [{**row, "lsn_int": parse_lsn(row["lsn"])} for row in CAPTURE["text"]]


@pytest.fixture(scope="module")
def transactions(rows):
    return assemble(rows)[0]


def summary(transactions):
    return [
        [(change.table_name.split(".")[1], change.operation) for change in tx.changes]
        for tx in transactions
    ]


def test_changes_are_grouped_into_their_transactions_in_commit_order(transactions):
    assert summary(transactions) == [
        [
            ("account", "insert"),
            ("account", "insert"),
            ("ledger", "insert"),
            ("ledger", "insert"),
            ("ledger_tag", "insert"),
        ],
        [("account", "update")],
        [("account", "update")],
        [("ledger", "update"), ("ledger", "delete")],
        [("account", "delete")],
        [("account", "insert")],
        [("ledger", "truncate"), ("ledger_tag", "truncate")],
        [("account", "truncate")],
    ]
    commit_lsns = [tx.commit_lsn for tx in transactions]
    assert commit_lsns == sorted(commit_lsns)
    assert all(tx.commit_lsn < tx.end_lsn for tx in transactions)
    for tx in transactions:
        assert [change.position for change in tx.changes] == list(range(len(tx.changes)))


def test_an_insert_carries_the_new_row_and_its_primary_key(transactions):
    insert = transactions[0].changes[0]
    assert insert.primary_key == {"id": ACCOUNT_A}
    assert insert.new["id"] == ACCOUNT_A
    assert insert.new["name"] == "Zoë"
    assert insert.old is None
    assert insert.unchanged_toast == []


def test_a_primary_key_of_two_columns_carries_both(transactions):
    tag = transactions[0].changes[4]
    assert tag.table_name == "pgoutput_capture.ledger_tag"
    assert tag.primary_key == {"ledger_id": 1, "tag": "coffee"} == tag.new


def test_an_unchanged_toasted_value_is_listed_not_nulled(transactions):
    update = transactions[1].changes[0]
    assert update.unchanged_toast == ["biography"]
    assert "biography" not in update.new


def test_a_key_update_keeps_the_old_key_only(transactions):
    update = transactions[2].changes[0]
    assert update.old == {"id": ACCOUNT_B}
    assert update.primary_key == {"id": ACCOUNT_B_RENAMED}


def test_replica_identity_full_gives_whole_old_rows(transactions):
    update, delete = transactions[3].changes
    assert update.old is not None and len(update.old) > 1
    assert delete.new is None and delete.old == delete.primary_key | delete.old


def test_a_delete_carries_the_old_key(transactions):
    delete = transactions[4].changes[0]
    assert delete.old == {"id": ACCOUNT_B_RENAMED} == delete.primary_key
    assert delete.new is None


def test_a_change_before_its_relation_or_outside_a_transaction_is_refused(rows):
    insert = next(row for row in rows if row["data"].startswith("49"))  # 'I'
    with pytest.raises(ProtocolError, match="outside a transaction"):
        TransactionAssembler().receive(bytes.fromhex(insert["data"]), 1)

    begin = rows[0]
    assembler = TransactionAssembler()
    assembler.receive(bytes.fromhex(begin["data"]), 1)
    with pytest.raises(ProtocolError, match="before its Relation message"):
        assembler.receive(bytes.fromhex(insert["data"]), 2)


def test_reset_forgets_a_half_received_transaction(rows):
    transactions, assembler = assemble(rows[:3])
    assert transactions == [] and assembler.in_transaction
    assembler.reset()
    assert not assembler.in_transaction


class CompleteDecoderOnly(TransactionAssembler):
    """The assembler without its hot path: every message goes through decode_message."""

    def _read_row_change(self, payload, lsn, operation):
        return False


def everything(transactions):
    return [
        (tx.xid, tx.commit_lsn, tx.end_lsn, tx.commit_time, [vars_of(c) for c in tx.changes])
        for tx in transactions
    ]


def vars_of(change):
    return {name: getattr(change, name) for name in change.__slots__}


def assemble_with(assembler, rows):
    transactions = []
    for row in rows:
        transaction = assembler.receive(bytes.fromhex(row["data"]), parse_lsn(row["lsn"]))
        if transaction is not None:
            transactions.append(transaction)
    return transactions


@pytest.mark.parametrize("capture", ["text", "binary"])
def test_the_hot_path_reads_what_the_complete_decoder_reads(capture, monkeypatch):
    decoded = []
    complete_decoder = changefeed.transactions.decode_message

    def counting_decoder(payload, converters=None):
        decoded.append(chr(payload[0]))
        return complete_decoder(payload, converters)

    monkeypatch.setattr(changefeed.transactions, "decode_message", counting_decoder)
    rows = CAPTURE[capture]
    hot = assemble_with(TransactionAssembler(), rows)
    row_changes = sum(1 for row in rows if row["data"][:2] in ("49", "55", "44"))  # I, U, D
    assert row_changes > 10
    if capture == "text":  # the hot path read every row change: the decoder saw none of them
        assert len(decoded) == len(rows) - row_changes and not set(decoded) & set("IUD")
    else:  # binary values are left to the complete decoder
        assert len(decoded) == len(rows)
    assert everything(hot) == everything(assemble_with(CompleteDecoderOnly(), rows))


def test_a_bytearray_or_memoryview_payload_reads_as_bytes(rows):
    as_bytes = assemble(rows)[0]
    for kind in (bytearray, memoryview):
        assembler = TransactionAssembler()
        transactions = []
        for row in rows:
            payload = kind(bytes.fromhex(row["data"]))
            transaction = assembler.receive(payload, row["lsn_int"])
            if transaction is not None:
                transactions.append(transaction)
        assert everything(transactions) == everything(as_bytes)
