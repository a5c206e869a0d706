"""SQLite plumbing shared by the durable local databases (the order ledger, the simulator)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def open_durable(path: Path) -> sqlite3.Connection:
    """A connection to the database at `path` (its folder private, made if missing) for one
    process's threads: autocommit, WAL, every commit synced, a 60 s wait for the write lock,
    rows by column name. Guard it with one lock per connection."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    conn = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


@contextmanager
def immediate_transaction(conn: sqlite3.Connection,
                          lock: threading.RLock) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the database's write lock at its start (BEGIN
    IMMEDIATE), so a read-check-write sequence is atomic across threads and processes.
    `conn` must be in autocommit mode (isolation_level=None)."""
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
