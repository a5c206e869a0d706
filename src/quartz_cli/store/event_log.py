"""The account's append-only event log: a table in the order ledger's SQLite file.

The order events come from the ledger's transitions, through an outbox: the ledger's own
`transitions` row of a move that stands for an event carries the event's type and the order's
figures at that move (`order_ledger.py`), in the same transaction as the move, so no move can
commit without its event or lose it in a crash. Turning those rows into events (the request's
fields, the JSON, the masking, the `events` row) happens off the order path: `relay_order_events`
runs in the transaction of every other append and before every read of `SqliteEventLog`, and
appends the pending transitions' events in their commit order. So the log reads as if every
move had appended its event itself, and an order's path pays only for a few more columns in a
row the ledger writes anyway (`scripts/bench/orders.py --events`).

Other writers (decisions, jobs, tokens, the owner's trading state) append through
`SqliteEventLog`, from any process: SQLite's write lock orders them, and `seq`
(AUTOINCREMENT) is the account's monotonic sequence, never reused even after a row is
deleted."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quartz_cli.domain.events import Event, EventType
from quartz_cli.domain.orders import OrderRequest
from quartz_cli.logs import current_run_id
from quartz_cli.redaction import redact
from quartz_cli.store.sqlite import DbLabel, immediate_transaction, open_durable, storage_errors

EVENTS = DbLabel(
    "the event log (in the order ledger's file)",
    fix="make its folder writable and free some space, then run again",
    corrupt_fix="the event log shares the order ledger's file: restore the ledger (see the "
    "ledger's own message; do not delete it)")

EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    type TEXT NOT NULL,
    run_id TEXT,
    request_id TEXT,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (type);
-- The last sequence each notification channel delivered (or deliberately passed over).
CREATE TABLE IF NOT EXISTS notify_cursor (channel TEXT PRIMARY KEY, seq INTEGER NOT NULL,
                                          updated_at TEXT NOT NULL);
"""


# meta: the last `transitions.seq` whose order event is in the log.
RELAYED = "events_relayed"


def _insert(db: sqlite3.Connection, kind: str, at: str, run_id: str | None,
            request_id: str | None, data: dict[str, Any]) -> int:
    # The data is masked here, whoever wrote it: an event never carries a secret, whatever
    # a broker message said.
    body = redact(json.dumps(data, ensure_ascii=False, sort_keys=True, default=str))
    cur = db.execute("INSERT INTO events(at, type, run_id, request_id, data) VALUES (?,?,?,?,?)",
                     (at, kind, run_id, request_id, body))
    return int(cur.lastrowid or 0)


def append_event(db: sqlite3.Connection, kind: EventType | str, at: datetime, *,
                 run_id: str | None = None, request_id: str | None = None,
                 data: dict[str, Any] | None = None) -> int:
    """Append one event inside the caller's write transaction on `db`, after the pending
    order events (`relay_order_events`); its sequence number. The run id defaults to the one
    bound by `logs.log_context`; the data is masked."""
    relay_order_events(db)
    return _insert(db, str(getattr(kind, "value", kind)), at.astimezone(UTC).isoformat(),
                   run_id if run_id is not None else current_run_id(), request_id, data or {})


def _has_outbox(db: sqlite3.Connection) -> bool:
    """True once the file holds a ledger whose transitions carry their events."""
    cols = {r[1] for r in db.execute("PRAGMA table_info(transitions)")}
    return "event" in cols


def relay_pending(db: sqlite3.Connection) -> bool:
    """True if the ledger committed transitions the log has not relayed yet (a read)."""
    row = db.execute("SELECT (SELECT MAX(seq) FROM transitions) AS last, "
                     "(SELECT value FROM meta WHERE name = ?) AS done", (RELAYED,)).fetchone()
    return int(row[0] or 0) > int(row[1] or 0)


def relay_order_events(db: sqlite3.Connection) -> int:
    """Inside the caller's write transaction on `db`: append the events of the ledger's
    transitions committed since the last relay, in their order, and move the relay's mark
    past them; how many. A file without a ledger relays nothing."""
    if not _has_outbox(db) or not relay_pending(db):
        return 0
    row = db.execute("SELECT value FROM meta WHERE name = ?", (RELAYED,)).fetchone()
    done = int(row[0]) if row else 0
    rows = db.execute(
        "SELECT t.*, o.request FROM transitions t LEFT JOIN orders o "
        "ON o.request_id = t.request_id WHERE t.seq > ? ORDER BY t.seq", (done,)).fetchall()
    count = 0
    for r in rows:
        if r["event"] is not None:
            _insert(db, r["event"], r["at"], r["run_id"], r["request_id"], _order_data(r))
            count += 1
    db.execute("INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)",
               (RELAYED, str(rows[-1]["seq"] if rows else done)))
    return count


def _order_data(r: sqlite3.Row) -> dict[str, Any]:
    """An order event's data from its transition row (the order's figures at that move)
    and the request it belongs to."""
    data: dict[str, Any] = {}
    if r["request"]:
        request = OrderRequest.model_validate_json(r["request"])
        data |= {"side": request.side.value if request.side else "cancel",
                 "ticker": request.ticker, "qty": request.qty,
                 "order_type": request.order_type.value, "price": request.price}
    data["state"] = r["to_state"]
    if r["from_state"] is not None:
        data["from"] = r["from_state"]
    for name in ("order_no", "code", "message", "avg_fill_price"):
        if r[name]:
            data[name] = r[name]
    filled = int(r["filled_qty"] or 0)
    if filled:
        data["filled_qty"] = filled
        data["fill_qty"] = filled - int(r["filled_before"] or 0)
    if r["est_fee_krw"] is not None:
        data["est_fee_krw"], data["est_tax_krw"] = r["est_fee_krw"], r["est_tax_krw"]
    if r["note"]:
        data["note"] = r["note"]
    return data


class SqliteEventLog:
    """Read and append the event log of one account (`account` is its key, never the
    number), in the file of the account's order ledger."""

    def __init__(self, path: Path | str, account: str) -> None:
        self.path = Path(path)
        self.account = account
        self._conn = open_durable(self.path, EVENTS, EVENTS_SCHEMA)
        self._lock = threading.RLock()
        self._outbox = False

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._conn, self._lock,
                                     on_error=lambda exc: EVENTS.error(self.path, exc))

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock, storage_errors(self.path, EVENTS):
            return self._conn.execute(sql, params).fetchall()

    def _events(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """Rows of the log, once the ledger's committed order events are in it."""
        self.relay()
        return self._rows(sql, params)

    def relay(self) -> int:
        """Append the order events the ledger committed since the last relay (none: no
        write); how many. Every read does this first."""
        with self._lock, storage_errors(self.path, EVENTS):
            if not self._outbox:
                self._outbox = _has_outbox(self._conn)
            if not self._outbox or not relay_pending(self._conn):
                return 0
        with self._write() as db:
            return relay_order_events(db)

    def append(self, kind: EventType | str, *, now: datetime | None = None,
               run_id: str | None = None, request_id: str | None = None,
               data: dict[str, Any] | None = None) -> int:
        """Append one event; its sequence number."""
        at = now or datetime.now(UTC)
        with self._write() as db:
            return append_event(db, kind, at, run_id=run_id, request_id=request_id, data=data)

    def since(self, seq: int = 0, *, limit: int = 1000,
              types: set[str] | None = None) -> list[Event]:
        """Events after `seq`, oldest first (at most `limit`), optionally of `types` only."""
        rows = self._events("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                            (seq, limit))
        events = [self._event(r) for r in rows]
        return [e for e in events if e.type in types] if types else events

    def tail(self, count: int) -> list[Event]:
        """The last `count` events, oldest first."""
        rows = self._events("SELECT * FROM events ORDER BY seq DESC LIMIT ?", (count,))
        return [self._event(r) for r in reversed(rows)]

    def last_seq(self) -> int:
        """The sequence number of the newest event (0 when the log is empty)."""
        [row] = self._events("SELECT MAX(seq) AS seq FROM events")
        return int(row["seq"] or 0)

    def of_type(self, kind: EventType | str, *, limit: int = 200) -> list[Event]:
        """The newest `limit` events of `kind`, newest first."""
        name = str(getattr(kind, "value", kind))
        rows = self._events("SELECT * FROM events WHERE type = ? ORDER BY seq DESC LIMIT ?",
                            (name, limit))
        return [self._event(r) for r in rows]

    def cursor(self, channel: str) -> int | None:
        """The last sequence `channel` delivered; None before its first start."""
        rows = self._rows("SELECT seq FROM notify_cursor WHERE channel = ?", (channel,))
        return int(rows[0]["seq"]) if rows else None

    def set_cursor(self, channel: str, seq: int) -> None:
        """Record that `channel` is done with every event up to `seq` (never moves back)."""
        stamp = datetime.now(UTC).isoformat()
        with self._write() as db:
            db.execute("INSERT INTO notify_cursor(channel, seq, updated_at) VALUES (?,?,?) "
                       "ON CONFLICT(channel) DO UPDATE SET seq = MAX(seq, excluded.seq), "
                       "updated_at = excluded.updated_at", (channel, seq, stamp))

    def _event(self, row: sqlite3.Row) -> Event:
        return Event(seq=int(row["seq"]), at=datetime.fromisoformat(row["at"]), type=row["type"],
                     account=self.account, run_id=row["run_id"], request_id=row["request_id"],
                     data=json.loads(row["data"]))
