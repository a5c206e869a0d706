"""SQLite plumbing shared by the durable local databases (the order ledger, the simulator)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager


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
