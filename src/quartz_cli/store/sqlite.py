"""SQLite plumbing shared by the durable local databases (the order ledger, the owner's
state, the simulator): one way to open them, and one translation of SQLite's and the
filesystem's failures into a `LocalStateError` that names the file and the fix."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from quartz_cli.errors import LocalStateError, local_state_error


@dataclass(frozen=True)
class DbLabel:
    """How a database is named to the operator, and how each failure is fixed."""

    what: str
    fix: str
    # For a corrupt file, when the fix differs (a ledger is restored, never recreated).
    corrupt_fix: str | None = None

    def error(self, path: Path | str, exc: BaseException) -> LocalStateError:
        return local_state_error(path, self.what, exc, fix=self.fix,
                                 corrupt_fix=self.corrupt_fix)


def is_storage_failure(exc: sqlite3.Error) -> bool:
    """True for a failure of the file (read-only, full, locked, corrupt), False for a
    statement's own error (a constraint, a misuse), which stays a bug or the caller's case."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


def open_durable(path: Path, label: DbLabel, schema: str = "", *,
                 synchronous: str = "FULL") -> sqlite3.Connection:
    """A connection to the database at `path` (its folder private, made if missing) for one
    process's threads: autocommit, WAL, every commit synced (`synchronous`), a 60 s wait for
    the write lock, rows by column name, `schema` applied. A file that is read-only, on a
    full disk, under a path that is not a folder, or corrupt raises `LocalStateError` naming
    `path` and `label`'s fix. Guard the connection with one lock."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(str(path), timeout=60, isolation_level=None,
                               check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise label.error(path, exc) from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        if schema:
            conn.executescript(schema)
    except sqlite3.Error as exc:
        conn.close()
        raise label.error(path, exc) from None
    return conn


@contextmanager
def storage_errors(path: Path | str, label: DbLabel) -> Iterator[None]:
    """Turn a storage failure of the database at `path` met inside the block (a full disk
    mid-run, a file damaged since it was opened) into its `LocalStateError`."""
    try:
        yield
    except sqlite3.Error as exc:
        if is_storage_failure(exc):
            raise label.error(path, exc) from None
        raise


@contextmanager
def immediate_transaction(conn: sqlite3.Connection, lock: threading.RLock, *,
                          on_error: Callable[[sqlite3.Error], Exception] | None = None,
                          ) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the database's write lock at its start (BEGIN
    IMMEDIATE), so a read-check-write sequence is atomic across threads and processes.
    `conn` must be in autocommit mode (isolation_level=None). A storage failure of BEGIN,
    COMMIT or a statement is rolled back and raised as `on_error(exc)` when given."""
    with lock:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if on_error is not None and is_storage_failure(exc):
                raise on_error(exc) from None
            raise
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if (on_error is not None and isinstance(exc, sqlite3.Error)
                    and is_storage_failure(exc)):
                raise on_error(exc) from None
            raise


def check_database(path: Path, label: DbLabel) -> None:
    """Raise `LocalStateError` if the database at `path` exists and is unreadable or
    damaged (opened read-only, `PRAGMA quick_check`); a missing file is fine (it is created
    when first needed). Writes nothing."""
    if not path.exists():
        return
    if not os.access(path.parent, os.W_OK) or os.statvfs(path.parent).f_flag & os.ST_RDONLY:
        # SQLite needs its folder writable even to read a WAL database (the -shm file).
        raise label.error(path, OSError(errno.EROFS, "read-only folder"))
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise label.error(path, exc) from None
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        raise label.error(path, exc) from None
    finally:
        conn.close()
    if rows != [("ok",)]:
        raise label.error(path, sqlite3.DatabaseError(f"malformed: {rows[0][0]}"))
