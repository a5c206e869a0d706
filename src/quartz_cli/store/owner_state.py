"""The account owner's durable state in SQLite: the trading state (active, reduce-only,
halted) and the value of the account at the start of each KST trading day. One small file
per account (`$QUARTZ_HOME/trading/<account hash>-owner.db`), shared by every process of
the host, so a halt survives restarts and every run sees the same start-of-day value."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from pathlib import Path

from quartz_cli.domain.pretrade import TradingState
from quartz_cli.ports import TradingStatus
from quartz_cli.store.sqlite import DbLabel, immediate_transaction, open_durable, storage_errors

SCHEMA = """
CREATE TABLE IF NOT EXISTS trading_state (
    id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, reason TEXT NOT NULL,
    updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trading_state_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, state TEXT NOT NULL,
    reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS start_of_day (
    day TEXT PRIMARY KEY, value INTEGER NOT NULL, recorded_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS daily_loss_trips (day TEXT PRIMARY KEY, at TEXT NOT NULL);
"""

# A corrupt file would forget a halt: trading waits until it is restored or deliberately reset.
OWNER_STATE = DbLabel(
    "the account owner's state",
    fix="make its folder writable and free some space, then run again",
    corrupt_fix="trading is refused until it is restored: restore the file from a backup "
    "(or `sqlite3 <file> .recover`); deleting it forgets a halt and the day's "
    "start-of-day value, so check `quartz trade state` afterwards")


class SqliteAccountStateStore:
    """The `AccountStateStore` port over one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn = open_durable(self.path, OWNER_STATE, SCHEMA)
        self._lock = threading.RLock()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._conn, self._lock,
                                     on_error=lambda exc: OWNER_STATE.error(self.path, exc))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def trading_status(self) -> TradingStatus:
        with self._lock, storage_errors(self.path, OWNER_STATE):
            row = self._conn.execute("SELECT * FROM trading_state WHERE id = 1").fetchone()
        if row is None:
            return TradingStatus(TradingState.ACTIVE)
        return TradingStatus(TradingState(row["state"]), row["reason"],
                             datetime.fromisoformat(row["updated_at"]))

    def set_trading_state(self, state: TradingState, reason: str,
                          now: datetime) -> TradingStatus:
        stamp = now.astimezone(UTC).isoformat()
        with self._tx() as db:
            db.execute("INSERT INTO trading_state(id, state, reason, updated_at) "
                       "VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                       "state = excluded.state, reason = excluded.reason, "
                       "updated_at = excluded.updated_at", (state.value, reason, stamp))
            db.execute("INSERT INTO trading_state_log(at, state, reason) VALUES (?, ?, ?)",
                       (stamp, state.value, reason))
        return TradingStatus(state, reason, now.astimezone(UTC))

    def start_of_day(self, day: date, value: int, now: datetime) -> int:
        stamp = now.astimezone(UTC).isoformat()
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO start_of_day(day, value, recorded_at) "
                       "VALUES (?, ?, ?)", (day.isoformat(), value, stamp))
            row = db.execute("SELECT value FROM start_of_day WHERE day = ?",
                             (day.isoformat(),)).fetchone()
        return int(row["value"])

    def first_loss_trip(self, day: date, now: datetime) -> bool:
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO daily_loss_trips(day, at) VALUES (?, ?)",
                             (day.isoformat(), now.astimezone(UTC).isoformat()))
        return cur.rowcount == 1

    def recorded_start_of_day(self) -> dict[date, int]:
        """Every start-of-day value recorded so far, by day (a read: records nothing)."""
        with self._lock, storage_errors(self.path, OWNER_STATE):
            rows = self._conn.execute("SELECT day, value FROM start_of_day ORDER BY day"
                                      ).fetchall()
        return {date.fromisoformat(r["day"]): int(r["value"]) for r in rows}
