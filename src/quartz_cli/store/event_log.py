"""The account's append-only event log: a table in the order ledger's SQLite file.

Living in the ledger's file lets every order transition write its event in the same
transaction as the transition itself (the ledger is the source of the order events; no
event without its transition, no transition without its event). Other writers (decisions,
jobs, tokens, the owner's trading state) append through `SqliteEventLog`, from any process:
SQLite's write lock orders them, and `seq` (AUTOINCREMENT) is the account's monotonic
sequence, never reused even after a row is deleted."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quartz_cli.domain.events import Event, EventType
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


def append_event(db: sqlite3.Connection, kind: EventType | str, at: datetime, *,
                 run_id: str | None = None, request_id: str | None = None,
                 data: dict[str, Any] | None = None) -> int:
    """Append one event inside the caller's write transaction on `db`; its sequence number.
    The run id defaults to the one bound by `logs.log_context`; the data is masked (an event
    never carries a secret, whatever a broker message said)."""
    body = redact(json.dumps(data or {}, ensure_ascii=False, sort_keys=True, default=str))
    cur = db.execute("INSERT INTO events(at, type, run_id, request_id, data) VALUES (?,?,?,?,?)",
                     (at.astimezone(UTC).isoformat(), str(getattr(kind, "value", kind)),
                      run_id if run_id is not None else current_run_id(), request_id, body))
    return int(cur.lastrowid or 0)


class SqliteEventLog:
    """Read and append the event log of one account (`account` is its key, never the
    number), in the file of the account's order ledger."""

    def __init__(self, path: Path | str, account: str) -> None:
        self.path = Path(path)
        self.account = account
        self._conn = open_durable(self.path, EVENTS, EVENTS_SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._conn, self._lock,
                                     on_error=lambda exc: EVENTS.error(self.path, exc))

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock, storage_errors(self.path, EVENTS):
            return self._conn.execute(sql, params).fetchall()

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
        rows = self._rows("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                          (seq, limit))
        events = [self._event(r) for r in rows]
        return [e for e in events if e.type in types] if types else events

    def tail(self, count: int) -> list[Event]:
        """The last `count` events, oldest first."""
        rows = self._rows("SELECT * FROM events ORDER BY seq DESC LIMIT ?", (count,))
        return [self._event(r) for r in reversed(rows)]

    def last_seq(self) -> int:
        """The sequence number of the newest event (0 when the log is empty)."""
        [row] = self._rows("SELECT MAX(seq) AS seq FROM events")
        return int(row["seq"] or 0)

    def of_type(self, kind: EventType | str, *, limit: int = 200) -> list[Event]:
        """The newest `limit` events of `kind`, newest first."""
        name = str(getattr(kind, "value", kind))
        rows = self._rows("SELECT * FROM events WHERE type = ? ORDER BY seq DESC LIMIT ?",
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
