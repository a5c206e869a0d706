"""The order events' outbox: a ledger move commits its event with it (in its `transitions`
row), and the event log relays it into the log: none lost when the process dies right after
the commit, none twice with several readers, in commit order with the other writers."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from quartz_cli.domain.orders import OrderRequest, OrderState
from quartz_cli.store.event_log import SqliteEventLog
from quartz_cli.store.order_ledger import SqliteOrderLedger

S = OrderState
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)

# A writer that commits an order's moves, then is killed before anything reads the log.
KILLED_WRITER = """
import os, signal, sys
from datetime import UTC, datetime
from quartz_cli.domain.orders import OrderRequest, OrderState as S
from quartz_cli.store.order_ledger import SqliteOrderLedger
now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
ledger = SqliteOrderLedger(sys.argv[1])
ledger.claim(OrderRequest(request_id="kill-1", action="buy", ticker="005930", qty=2,
                          order_type="market", price=0, timestamp=now), "local", now)
ledger.move("kill-1", S.RECEIVED, S.SENT, now, attempts=1)
ledger.move("kill-1", S.SENT, S.ACCEPTED, now, order_no="0000000042")
os.kill(os.getpid(), signal.SIGKILL)
"""


def order(rid: str) -> OrderRequest:
    return OrderRequest(request_id=rid, action="buy", ticker="005930", qty=3,
                        order_type="market", price=0, timestamp=NOW)


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def test_a_writer_killed_right_after_its_commits_loses_no_event(tmp_path):
    path = tmp_path / "ledger.db"
    SqliteEventLog(path, "acct").append("job.started", data={"job": "trade"})
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    # The moves committed; their events wait in the outbox, not yet in the log.
    assert rows(path, "SELECT type FROM events") == [("job.started",)]
    log = SqliteEventLog(path, "acct")
    events = log.since(0)
    assert [(e.seq, e.type) for e in events] == [
        (1, "job.started"), (2, "order.requested"), (3, "order.sent"), (4, "order.accepted")]
    assert events[-1].data["order_no"] == "0000000042" and events[-1].data["qty"] == 2
    assert all(e.request_id == "kill-1" for e in events[1:])
    # Read again, and by another reader: the same events, never appended twice.
    assert [e.seq for e in SqliteEventLog(path, "acct").since(0)] == [1, 2, 3, 4]
    assert log.last_seq() == 4 and rows(path, "SELECT COUNT(*) FROM events") == [(4,)]


def test_relayed_events_keep_commit_order_with_other_writers_and_no_duplicates(tmp_path):
    path = tmp_path / "ledger.db"
    ledger = SqliteOrderLedger(path)
    a, b = SqliteEventLog(path, "acct"), SqliteEventLog(path, "acct")
    ledger.claim(order("o-1"), "local", NOW)
    a.append("job.started", data={"job": "decide"})  # after the claim: after its event
    ledger.move("o-1", S.RECEIVED, S.SENT, NOW, attempts=1)
    ledger.move("o-1", S.SENT, S.ACCEPTED, NOW, order_no="0000000007")
    ledger.move("o-1", S.ACCEPTED, S.ACCEPTED, NOW, filled_qty=1, avg_fill_price=70_000)
    ledger.move("o-1", S.ACCEPTED, S.FILLED, NOW, filled_qty=3, avg_fill_price=70_100)
    # Several readers relaying at once, from threads and two connections.
    seen: list[list[int]] = []
    workers = [threading.Thread(target=lambda log=log: seen.append(
        [e.seq for e in log.since(0)])) for log in (a, b, a, b)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    events = a.since(0)
    assert [e.type for e in events] == [
        "order.requested", "job.started", "order.sent", "order.accepted",
        "order.partially_filled", "order.filled"]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6] and seen == [[1, 2, 3, 4, 5, 6]] * 4
    partial, filled = events[4].data, events[5].data
    assert (partial["fill_qty"], partial["filled_qty"], partial["avg_fill_price"]) == (
        1, 1, 70_000)
    assert (filled["fill_qty"], filled["filled_qty"], filled["from"]) == (2, 3, "accepted")
    # A partial fill is an event, not a move: the request's history is unchanged.
    assert [t for _, t, _ in ledger.history("o-1")] == ["received", "sent", "accepted", "filled"]


def test_a_forgotten_request_keeps_its_event_and_a_ledger_made_before_the_outbox_opens(
        tmp_path):
    path = tmp_path / "ledger.db"
    # A ledger file from before the outbox: its transitions have no event columns, and its
    # events were written by the moves themselves.
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE transitions (seq INTEGER PRIMARY KEY AUTOINCREMENT,
                request_id TEXT NOT NULL, at TEXT NOT NULL, from_state TEXT,
                to_state TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');
            INSERT INTO transitions(request_id, at, from_state, to_state)
                VALUES ('old-1', '2026-11-23T01:00:00+00:00', NULL, 'received');""")
    ledger = SqliteOrderLedger(path)
    ledger.claim(order("gone-1"), "local", NOW)
    ledger.forget("gone-1", S.RECEIVED)  # another replica owns it: the row goes
    assert ledger.get("gone-1") is None
    [requested] = SqliteEventLog(path, "acct").since(0)
    assert requested.type == "order.requested" and requested.request_id == "gone-1"
    assert requested.data["ticker"] == "005930" and requested.data["qty"] == 3
    # The old move stays history, and is not relayed as a new event.
    assert ledger.history("old-1") == [(None, "received", "")]


def test_the_archive_moves_its_cursor_per_batch_and_resumes_after_its_last_write(tmp_path):
    import asyncio

    from quartz_cli.agents.notifier import Notifier, Route
    from quartz_cli.errors import LocalStateError
    from quartz_cli.notify.channels import StoreArchive
    from quartz_cli.store.local import LocalStore

    class FlakyStore(LocalStore):
        """A local store whose write of one key fails once (a full disk, an S3 outage)."""

        def __init__(self, root: Path, failing: str) -> None:
            super().__init__(root)
            self.failing: str | None = failing

        def put_if_absent(self, key: str, data: bytes) -> bool:
            if key == self.failing:
                self.failing = None
                raise LocalStateError(f"cannot write {key}", path=key)
            return super().put_if_absent(key, data)

    log = SqliteEventLog(tmp_path / "ledger.db", "acct")
    for i in range(5):
        log.append("job.started", data={"i": i})
    store = FlakyStore(tmp_path / "store", "events/acct/000000000003.json")
    archive = Notifier(log, [Route(StoreArchive(store, "acct"), frozenset(), archive=True)],
                       retry_delays_s=(0.0,))
    assert asyncio.run(archive.deliver()) == 2 and log.cursor("store-archive") == 2
    assert asyncio.run(archive.deliver()) == 3 and log.cursor("store-archive") == 5
    keys = sorted(store.list("events/acct/"))
    assert [json.loads(store.get(k) or b"")["seq"] for k in keys] == [1, 2, 3, 4, 5]
    # A restart that finds its cursor behind (a crash before the batch's cursor write)
    # writes nothing twice: the archive's writes are put-if-absent.
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        db.execute("UPDATE notify_cursor SET seq = 1 WHERE channel = 'store-archive'")
    asyncio.run(archive.deliver())
    assert sorted(store.list("events/acct/")) == keys and log.cursor("store-archive") == 5
