"""The idempotency ledger: one row per request_id, claimed durably before the broker is
called, moved through the order states by compare-and-set so two processes sharing the file
can never both send the same request. SQLite in WAL mode with synchronous=FULL: a state
written before a call survives the process being killed during it.

Fencing: the owner of the account's lease calls `fence(epoch)`; the ledger keeps the largest
epoch that fenced it (`meta.epoch`) and refuses, inside each write transaction, a writer whose
epoch is older or that holds no lease at all, so a process whose lease was taken over cannot
write another request's state even if it still runs.

Every transition that stands for an order event records it in the same transaction: its
`transitions` row carries the event's type and the order's figures at that move (the outbox
of `store.event_log`, which turns those rows into the account's events off the order path),
so the log can never disagree with the ledger, nor lose an event to a crash."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from quartz_cli.domain.events import EventType, FeeRates, order_event_type
from quartz_cli.domain.orders import OrderRequest, OrderState
from quartz_cli.logs import current_run_id
from quartz_cli.metrics import order_event as order_metric
from quartz_cli.ports import LeaseLost, LedgerEntry, LedgerError
from quartz_cli.store.event_log import EVENTS_SCHEMA, relay_order_events
from quartz_cli.store.sqlite import DbLabel, immediate_transaction, open_durable, storage_errors

S = OrderState
# Allowed moves. Back to `received` only from `sent`, when the request certainly did not reach
# the broker (refused for rate, connection refused, a rejected token). `unknown` never goes
# back: it ends matched (`reconciled`) or, once its session is over, `expired`.
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    S.RECEIVED: frozenset({S.SENT, S.REJECTED}),
    S.SENT: frozenset({S.ACCEPTED, S.REJECTED, S.UNKNOWN, S.RECEIVED, S.CANCELLED}),
    S.UNKNOWN: frozenset({S.RECONCILED, S.EXPIRED}),
    S.ACCEPTED: frozenset({S.FILLED, S.CANCELLED}),
    S.RECONCILED: frozenset({S.FILLED, S.CANCELLED}),
    S.REJECTED: frozenset(),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    request_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    order_no TEXT,
    org_no TEXT,
    order_date TEXT,
    filled_qty INTEGER NOT NULL DEFAULT 0,
    avg_fill_price INTEGER,
    code TEXT,
    message TEXT NOT NULL DEFAULT '',
    env TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- One broker order belongs to at most one request: a reconciliation can never attribute
-- the same booked order to two requests.
CREATE UNIQUE INDEX IF NOT EXISTS orders_by_order_no ON orders (order_no)
    WHERE order_no IS NOT NULL AND order_no != '';
CREATE INDEX IF NOT EXISTS orders_by_state ON orders (state);
CREATE INDEX IF NOT EXISTS orders_by_updated ON orders (updated_at);
CREATE TABLE IF NOT EXISTS transitions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    at TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS transitions_by_request ON transitions (request_id);
"""
# The event outbox (`store.event_log`): the order event a move stands for (NULL: none) and the
# order's figures at that move. Added when the ledger opens, to a new file and to one made
# before they existed alike (`_add_outbox`).
OUTBOX_COLUMNS = {"event": "TEXT", "run_id": "TEXT", "filled_before": "INTEGER",
                  "filled_qty": "INTEGER", "avg_fill_price": "INTEGER", "order_no": "TEXT",
                  "code": "TEXT", "message": "TEXT", "est_fee_krw": "INTEGER",
                  "est_tax_krw": "INTEGER"}
_RECORD = ("INSERT INTO transitions(request_id, at, from_state, to_state, note, event, run_id, "
           "filled_before, filled_qty, avg_fill_price, order_no, code, message, est_fee_krw, "
           "est_tax_krw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")


# A corrupt ledger is never recreated: it is the record of which orders reached the broker.
LEDGER = DbLabel(
    "the order ledger",
    fix="make its folder writable and free some space, then run again",
    corrupt_fix="trading is refused until the ledger is restored; do not delete it (it "
    "records which orders reached the broker). Stop the trading server, move the file "
    "aside, restore it from a backup or with `sqlite3 <file> .recover`, then compare the "
    "restored `quartz trade orders` with the broker's order list (the store's orders/claims/ lists "
    "every request that was sent)")


def _add_outbox(db: sqlite3.Connection) -> None:
    have = {r["name"] for r in db.execute("PRAGMA table_info(transitions)")}
    for name, kind in OUTBOX_COLUMNS.items():
        if name not in have:
            db.execute(f"ALTER TABLE transitions ADD COLUMN {name} {kind}")


def _record(db: sqlite3.Connection, before: OrderState | None, filled_before: int,
            row: sqlite3.Row, stamp: str, note: str, kind: EventType | None,
            fees: tuple[int, int] | None) -> None:
    """Write `row`'s latest move to its history, with the event it stands for (if any)."""
    db.execute(_RECORD, (
        row["request_id"], stamp, before.value if before else None, row["state"], note,
        kind.value if kind else None, current_run_id() if kind else None, filled_before,
        row["filled_qty"], row["avg_fill_price"], row["order_no"], row["code"],
        row["message"], *(fees or (None, None))))


def _fees(fee_rates: FeeRates | None, kind: EventType | None, filled_before: int,
          row: sqlite3.Row) -> tuple[int, int] | None:
    """A fill event's fee and tax, estimated from the configured rates on this fill's
    notional (the average price of the order so far): the broker's own figures come with
    its settlement."""
    if (fee_rates is None or not row["avg_fill_price"]
            or kind not in (EventType.ORDER_FILLED, EventType.ORDER_PARTIALLY_FILLED)):
        return None
    request = OrderRequest.model_validate_json(row["request"])
    side = request.side.value if request.side else "cancel"
    fill_qty = int(row["filled_qty"]) - filled_before
    return fee_rates.estimate(side, fill_qty * int(row["avg_fill_price"]))


def _count(kind: EventType | None, row: sqlite3.Row) -> None:
    """Count a committed order event in the metrics."""
    if kind is not None:
        order_metric(kind.value.removeprefix("order."),
                     rule=row["code"] or "unknown" if kind is EventType.ORDER_REFUSED else None)


def _entry(row: sqlite3.Row) -> LedgerEntry:
    return LedgerEntry(
        request=OrderRequest.model_validate_json(row["request"]),
        fingerprint=row["fingerprint"], state=OrderState(row["state"]),
        attempts=int(row["attempts"]), order_no=row["order_no"], org_no=row["org_no"],
        order_date=row["order_date"], filled_qty=int(row["filled_qty"]),
        avg_fill_price=row["avg_fill_price"], code=row["code"], message=row["message"],
        env=row["env"], updated_at=datetime.fromisoformat(row["updated_at"]))


class SqliteOrderLedger:
    """The `OrderLedger` port in SQLite: the ledger file
    (`$QUARTZ_HOME/trading/<env>-ledger.db` by default)."""

    def __init__(self, path: Path | str, fee_rates: FeeRates | None = None) -> None:
        self.path = Path(path)
        # Fill events carry fee and tax estimates when the rates are given.
        self.fee_rates = fee_rates
        self._conn = open_durable(self.path, LEDGER, SCHEMA + EVENTS_SCHEMA)
        self._lock = threading.RLock()
        self.epoch: int | None = None
        # Off only in the orders benchmark, to measure what the event log costs per order.
        self.record_events = True
        with self._write() as db:
            _add_outbox(db)
            db.execute("INSERT OR IGNORE INTO meta(name, value) VALUES ('instance', ?)",
                       (uuid.uuid4().hex,))
        self.instance_id = str(self._rows(
            "SELECT value FROM meta WHERE name = 'instance'")[0]["value"])

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._conn, self._lock,
                                     on_error=lambda exc: LEDGER.error(self.path, exc))

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock, storage_errors(self.path, LEDGER):
            return self._conn.execute(sql, params).fetchall()

    @staticmethod
    def _fenced_at(db: sqlite3.Connection) -> int | None:
        row = db.execute("SELECT value FROM meta WHERE name = 'epoch'").fetchone()
        return int(row["value"]) if row else None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, refused (LeaseLost) unless this writer holds the latest
        lease epoch that fenced the ledger (a ledger never fenced takes any writer)."""
        with self._write() as db:
            fenced = self._fenced_at(db)
            if fenced is not None and fenced != self.epoch:
                held = ("no lease" if self.epoch is None
                        else f"the lease of epoch {self.epoch}")
                raise LeaseLost(f"the order ledger {self.path.name} belongs to the owner of "
                                f"lease epoch {fenced}; this writer holds {held}",
                                hint="only the account's owner writes its ledger: send "
                                "orders through it")
            yield db

    def fence(self, epoch: int) -> None:
        """Write from now on as the lease holder of `epoch`: LeaseLost if a later epoch
        already fenced the ledger."""
        with self._write() as db:
            fenced = self._fenced_at(db)
            if fenced is not None and fenced > epoch:
                raise LeaseLost(f"the order ledger {self.path.name} was fenced by lease epoch "
                                f"{fenced}, later than this writer's {epoch}",
                                hint="another process took the account's lease after this one")
            db.execute("INSERT OR REPLACE INTO meta(name, value) VALUES ('epoch', ?)",
                       (str(epoch),))
        self.epoch = epoch

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def claim(self, request: OrderRequest, env: str, now: datetime) -> tuple[LedgerEntry, bool]:
        """Record `request` as received unless its request_id is known; (entry, created)."""
        stamp = now.astimezone(UTC).isoformat()
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO orders(request_id, fingerprint, request, state, env, "
                "created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                (request.request_id, request.fingerprint(), request.model_dump_json(),
                 S.RECEIVED.value, env, stamp, stamp))
            created = cur.rowcount == 1
            row = db.execute("SELECT * FROM orders WHERE request_id = ?",
                             (request.request_id,)).fetchone()
            kind = EventType.ORDER_REQUESTED if created and self.record_events else None
            if created:
                _record(db, None, 0, row, stamp, "", kind, None)
        _count(kind, row)
        return _entry(row), created

    def get(self, request_id: str) -> LedgerEntry | None:
        rows = self._rows("SELECT * FROM orders WHERE request_id = ?", (request_id,))
        return _entry(rows[0]) if rows else None

    def by_order_no(self, order_no: str) -> LedgerEntry | None:
        rows = self._rows("SELECT * FROM orders WHERE order_no = ?", (order_no,))
        return _entry(rows[0]) if rows else None

    def move(self, request_id: str, expected: OrderState, to: OrderState, now: datetime, *,
             note: str = "", **fields: object) -> LedgerEntry:
        """Compare-and-set the state (and any of order_no, org_no, order_date, attempts,
        filled_qty, avg_fill_price, code, message). Raises LedgerError if the row is no
        longer in `expected` or the move is not allowed."""
        if to is not expected and to not in TRANSITIONS[expected]:
            raise LedgerError(f"{request_id}: {expected.value} → {to.value} is not allowed")
        allowed = {"order_no", "org_no", "order_date", "attempts", "filled_qty",
                   "avg_fill_price", "code", "message"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown ledger fields {sorted(bad)}")
        stamp = now.astimezone(UTC).isoformat()
        sets = ["state = ?", "updated_at = ?"] + [f"{k} = ?" for k in fields]
        values = [to.value, stamp, *fields.values(), request_id, expected.value]
        try:
            with self._tx() as db:
                before = db.execute("SELECT filled_qty FROM orders WHERE request_id = ?",
                                    (request_id,)).fetchone()
                cur = db.execute(f"UPDATE orders SET {', '.join(sets)} "
                                 "WHERE request_id = ? AND state = ?", values)
                if cur.rowcount != 1:
                    raise LedgerError(f"{request_id} is no longer {expected.value}")
                row = db.execute("SELECT * FROM orders WHERE request_id = ?",
                                 (request_id,)).fetchone()
                filled_before = int(before["filled_qty"])
                kind = order_event_type(expected, to, filled_before, int(row["filled_qty"]))
                if not self.record_events:
                    kind = None
                # A move within a state is history only when it stands for an event (a
                # partial fill); `history` leaves those rows out.
                if to is not expected or kind is not None:
                    _record(db, expected, filled_before, row, stamp, note, kind,
                            _fees(self.fee_rates, kind, filled_before, row))
        except sqlite3.IntegrityError:
            raise LedgerError(f"order number {fields.get('order_no')} already belongs to "
                              "another request") from None
        _count(kind, row)
        return _entry(row)

    def note(self, request_id: str, now: datetime, note: str) -> None:
        """Add an event to a request's history without moving it (e.g. an order inquiry
        that did not find it): the evidence behind its eventual outcome."""
        stamp = now.astimezone(UTC).isoformat()
        with self._tx() as db:
            db.execute("INSERT INTO transitions(request_id, at, from_state, to_state, note) "
                       "SELECT request_id, ?, state, state, ? FROM orders WHERE request_id = ?",
                       (stamp, note, request_id))

    def forget(self, request_id: str, expected: OrderState) -> None:
        """Drop a row that was never sent (another replica owns the request)."""
        with self._tx() as db:
            # Its events need the row's request: into the log before it goes.
            relay_order_events(db)
            db.execute("DELETE FROM orders WHERE request_id = ? AND state = ?",
                       (request_id, expected.value))

    def known_order_nos(self) -> set[str]:
        rows = self._rows("SELECT order_no FROM orders WHERE order_no IS NOT NULL "
                          "AND order_no != ''")
        return {r["order_no"] for r in rows}

    def in_states(self, *states: OrderState) -> list[LedgerEntry]:
        marks = ",".join("?" * len(states))
        rows = self._rows(f"SELECT * FROM orders WHERE state IN ({marks}) ORDER BY created_at",
                          tuple(s.value for s in states))
        return [_entry(r) for r in rows]

    def updated_since(self, since: datetime) -> list[LedgerEntry]:
        """Entries moved (or created) at or after `since`, oldest first."""
        rows = self._rows("SELECT * FROM orders WHERE updated_at >= ? ORDER BY created_at",
                          (since.astimezone(UTC).isoformat(),))
        return [_entry(r) for r in rows]

    def entries(self, *, limit: int = 500) -> list[LedgerEntry]:
        """The most recent entries, newest first."""
        rows = self._rows("SELECT * FROM orders ORDER BY created_at DESC, rowid DESC LIMIT ?",
                          (limit,))
        return [_entry(r) for r in rows]

    def history(self, request_id: str) -> list[tuple[str | None, str, str]]:
        """(from, to, note) of every move (and note) of one request, oldest first."""
        rows = self._rows("SELECT from_state, to_state, note FROM transitions "
                          "WHERE request_id = ? AND (event IS NULL OR from_state IS NOT "
                          "to_state) ORDER BY seq", (request_id,))
        return [(r["from_state"], r["to_state"], r["note"]) for r in rows]
