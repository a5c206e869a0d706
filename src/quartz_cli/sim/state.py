"""The simulator's durable state in SQLite, so that every process of a `local` run (and a
`quartz sim serve`) sees one broker: the same tokens, counters, and later orders and balances."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import AbstractContextManager
from pathlib import Path

from quartz_cli.store.sqlite import DbLabel, immediate_transaction, open_durable, storage_errors

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    app_key TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tokens_by_key ON tokens (app_key, issued_at);
"""

SIM_DB = DbLabel("the simulator's database",
                 fix="make its folder writable and free some space, or start over with "
                 "`quartz sim reset` (a simulated account: nothing real is lost)",
                 corrupt_fix="start the simulated account over with `quartz sim reset` "
                 "(nothing real is lost)")


class SimState:
    """A SQLite database (a file shared between processes, or `:memory:` for one process).

    Other simulator modules add their own tables through `add_schema`."""

    def __init__(self, path: Path | str = ":memory:") -> None:
        self.path = str(path)
        if self.path == ":memory:":
            self._conn = sqlite3.connect(self.path, isolation_level=None,
                                         check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
        else:
            # A simulator survives a crash of its process, not of the machine: no fsync per write.
            self._conn = open_durable(Path(self.path), SIM_DB, synchronous="NORMAL")
        self._lock = threading.RLock()
        self._conn.execute("PRAGMA busy_timeout=60000")
        self.add_schema(SCHEMA)

    def add_schema(self, ddl: str) -> None:
        with self._lock, storage_errors(self.path, SIM_DB):
            self._conn.executescript(ddl)

    def tx(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction that holds the database lock from its start (BEGIN IMMEDIATE),
        so read-check-write sequences are atomic across processes."""
        return immediate_transaction(self._conn, self._lock,
                                     on_error=lambda exc: SIM_DB.error(self.path, exc))

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock, storage_errors(self.path, SIM_DB):
            return self._conn.execute(sql, params).fetchall()

    def bump(self, name: str, n: int = 1, conn: sqlite3.Connection | None = None) -> None:
        """Add `n` to a counter (inside the caller's transaction when given one)."""
        sql = ("INSERT INTO counters(name, value) VALUES (?, ?) "
               "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value")
        if conn is not None:
            conn.execute(sql, (name, n))
            return
        with self._lock, storage_errors(self.path, SIM_DB):
            self._conn.execute(sql, (name, n))

    def counter(self, name: str) -> int:
        rows = self.query("SELECT value FROM counters WHERE name = ?", (name,))
        return int(rows[0]["value"]) if rows else 0

    def counters(self) -> dict[str, int]:
        return {r["name"]: int(r["value"]) for r in self.query("SELECT name, value FROM counters")}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
