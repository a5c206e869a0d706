"""The trading agent: executes each order request at most once at the broker.

The rules, in the order they apply:
1. A request_id is claimed in the ledger (and, when a store is wired, with a put-if-absent
   claim `orders/claims/<request_id>.json`, so two replicas cannot both own it) before the
   broker is called. A known request_id returns its stored outcome (or resumes it if a
   previous process stopped midway).
2. The state moves to `sent` durably before each call. Up to `max_attempts` sends,
   `retry_delay_s` apart, and only when the previous one provably did not reach the broker or
   was refused before booking: connection refused, a token error before the call, the rate limit.
3. An ambiguous send (timeout after the request left, a dropped connection, a 5xx, or a
   `sent` row left by a killed process) makes the request `unknown`, and it is NEVER sent
   again. It counts as in flight at its full size (`in_flight()`) and is reconciled against
   the broker's daily order inquiry: a few times right away, then with back-off
   (`reconcile_pending()`, run periodically by the trading server). A match that no other
   request owns makes it `reconciled`; once the order could no longer be live (the KRX
   session of its order date is over, plus a margin) an inquiry that still finds nothing
   closes it `expired`, with the inquiries made in its message and history.
4. A send and an inquiry-and-match of the same ticker and side never overlap in one process,
   so a reconciliation never takes an order whose ticket is still on its way back; the
   ledger's unique order number keeps one broker order per request across processes.
5. Ledger calls (SQLite, which may wait on its busy timeout) run on worker threads, awaited in
   order under the request's lock, so the event loop never blocks on them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from quartz_cli.domain.account import Balance
from quartz_cli.domain.calendar import KrxCalendar, last_booking_moment
from quartz_cli.domain.krx import KST
from quartz_cli.domain.orders import (
    InFlightOrder,
    OpenOrder,
    OrderOutcome,
    OrderReport,
    OrderRequest,
    OrderState,
    OrderType,
    action_word,
    cancelled_quantities,
    is_cancelled,
)
from quartz_cli.errors import (
    BrokerError,
    BrokerUnavailable,
    InputError,
    QuartzError,
    RateLimited,
    SafetyRefusal,
    StoreError,
    TokenIssueThrottled,
    TokenRejected,
)
from quartz_cli.ports import Broker, LedgerEntry, LedgerError, OrderLedger, Store

log = logging.getLogger(__name__)
S = OrderState
# Where a request may still trade, for `in_flight()`.
_PENDING = (S.SENT, S.UNKNOWN)
_BOOKED_OPEN = (S.ACCEPTED, S.RECONCILED)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the agent tries. The defaults are the seed's: 3 attempts, 1 s apart (for sends
    the broker provably did not take)."""

    max_attempts: int = 3
    retry_delay_s: float = 1.0
    # Waits before each inquiry made right after an unknown outcome, inside `submit`.
    reconcile_delays_s: tuple[float, ...] = (0.0, 1.0, 2.0)
    # Then `reconcile_pending` asks again for each unknown request after this wait, doubled
    # after every inquiry without a match, up to the cap.
    backoff_s: float = 2.0
    backoff_max_s: float = 60.0
    # An unknown order is closed as not booked only by an inquiry made this long after the
    # close of its session (covers a late close such as the CSAT day's, and broker lag).
    expiry_margin_s: float = 3600.0
    # A `sent` row this old that this process is not sending was left by another process
    # that died mid-call; the periodic pass adopts it (startup recovery adopts every one).
    adopt_sent_after_s: float = 120.0
    # A request first seen this long after its timestamp (wall clock) is refused unsent: a
    # decision delayed by an outage must not trade on stale prices. None = no limit.
    max_request_age_s: float | None = 600.0


def _order_date(yyyymmdd: str) -> date:
    """A ledger's order date (YYYYMMDD, a KST trading day) as a date."""
    return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))


class KeyedLocks:
    """asyncio locks by key, dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    def busy(self, key: Hashable) -> bool:
        """True while someone holds or waits for `key`."""
        return key in self._locks

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class _AsyncLedger:
    """The ledger's calls on worker threads: a SQLite write may wait on the database's busy
    timeout, and the event loop must keep serving meanwhile. Callers await each call, so
    the calls of one request still happen one after another, in order."""

    def __init__(self, ledger: OrderLedger) -> None:
        self.sync = ledger

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def claim(self, request: OrderRequest, env: str,
                    now: datetime) -> tuple[LedgerEntry, bool]:
        result: tuple[LedgerEntry, bool] = await self._call(self.sync.claim, request, env, now)
        return result

    async def get(self, request_id: str) -> LedgerEntry | None:
        entry: LedgerEntry | None = await self._call(self.sync.get, request_id)
        return entry

    async def by_order_no(self, order_no: str) -> LedgerEntry | None:
        entry: LedgerEntry | None = await self._call(self.sync.by_order_no, order_no)
        return entry

    async def move(self, request_id: str, expected: OrderState, to: OrderState,
                   now: datetime, *, note: str = "", **fields: object) -> LedgerEntry:
        entry: LedgerEntry = await self._call(self.sync.move, request_id, expected, to, now,
                                              note=note, **fields)
        return entry

    async def note(self, request_id: str, now: datetime, note: str) -> None:
        await self._call(self.sync.note, request_id, now, note)

    async def history(self, request_id: str) -> list[tuple[str | None, str, str]]:
        rows: list[tuple[str | None, str, str]] = await self._call(self.sync.history,
                                                                   request_id)
        return rows

    async def forget(self, request_id: str, expected: OrderState) -> None:
        await self._call(self.sync.forget, request_id, expected)

    async def known_order_nos(self) -> set[str]:
        known: set[str] = await self._call(self.sync.known_order_nos)
        return known

    async def in_states(self, *states: OrderState) -> list[LedgerEntry]:
        entries: list[LedgerEntry] = await self._call(self.sync.in_states, *states)
        return entries

    async def entries(self, *, limit: int = 500) -> list[LedgerEntry]:
        entries: list[LedgerEntry] = await self._call(self.sync.entries, limit=limit)
        return entries


@dataclass
class _Backoff:
    """When the next inquiry for one unknown request is due (monotonic seconds)."""

    due_at: float
    delay_s: float


def claim_document(request: OrderRequest, owner: str, now: datetime) -> bytes:
    """The store claim `orders/claims/<request_id>.json` (no account data in it)."""
    return json.dumps({"request_id": request.request_id, "owner": owner,
                       "fingerprint": request.fingerprint(),
                       "claimed_at": now.astimezone(UTC).isoformat()}).encode()


def _certainly_not_sent(exc: BrokerError) -> bool:
    """The broker provably did not take the order: it never left the process (connection
    refused, a token error before the call) or was refused before booking (the rate limit)."""
    if isinstance(exc, (RateLimited, TokenRejected, TokenIssueThrottled)):
        return True
    return isinstance(exc, BrokerUnavailable) and not exc.maybe_sent


def _outcome_unknown(exc: BrokerError) -> bool:
    if isinstance(exc, BrokerUnavailable):
        return exc.maybe_sent
    # A 5xx other than the rate limit may come after the order was booked.
    return exc.status is not None and exc.status >= 500


def _hms(moment: datetime) -> str:
    return moment.astimezone(KST).strftime("%H:%M:%S")


_INQUIRY = "inquiry at "
_INQUIRY_FAILED = "inquiry failed at "


def _evidence(notes: list[str]) -> str:
    """The inquiries behind an expiry, for its message: how many, and when."""
    times = [n.removeprefix(_INQUIRY).split(" ", 1)[0] for n in notes
             if n.startswith(_INQUIRY)]
    failed = sum(n.startswith(_INQUIRY_FAILED) for n in notes)
    shown = times if len(times) <= 10 else [*times[:5], "…", *times[-5:]]
    text = f"{len(times)} order inquiries without a match (KST {', '.join(shown)})"
    return text + (f", {failed} more inquiries failed" if failed else "")


class TradingAgent:
    """Implements the `OrderExecutor` port in-process over a `Broker` and an `OrderLedger`."""

    def __init__(self, broker: Broker, ledger: OrderLedger, *, env: str,
                 market_now: Callable[[], datetime], store: Store | None = None,
                 policy: RetryPolicy | None = None, live_trading_allowed: bool = True,
                 calendar: Callable[[], KrxCalendar] | None = None,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.broker = broker
        self.ledger = ledger
        self.env = env
        self.market_now = market_now
        self.store = store
        self.policy = policy or RetryPolicy()
        self.live_trading_allowed = live_trading_allowed
        self._calendar_source = calendar
        self._calendar: KrxCalendar | None = None
        self._sleep = sleep
        self._monotonic = monotonic
        self._db = _AsyncLedger(ledger)
        self._request_locks = KeyedLocks()
        self._signature_locks = KeyedLocks()
        self._backoff: dict[str, _Backoff] = {}
        self.broker_calls = 0
        self.inquiries = 0

    # --- OrderExecutor ----------------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> OrderOutcome:
        """Execute `request` once; a known request_id returns (or resumes) its outcome."""
        if not self.live_trading_allowed:
            raise SafetyRefusal("real-money orders are disabled",
                                hint="set QUARTZ_LIVE_TRADING=true to allow orders in prod")
        async with self._request_locks.hold(request.request_id):
            entry, created = await self._db.claim(request, self.env, self.market_now())
            if not created and entry.fingerprint != request.fingerprint():
                raise InputError(f"request_id {request.request_id} was already used for a "
                                 "different order", hint="use a new request_id per order")
            if created and self._stale(request):
                entry = await self._move(entry, S.REJECTED, note="stale request",
                                         message=f"not sent: the request is older than "
                                         f"{self.policy.max_request_age_s:.0f} s (or from the "
                                         "future); decide again and send a new request")
            if entry.state is S.RECEIVED and entry.attempts == 0:
                try:
                    owner = await self._claim_in_store(request)
                except StoreError as exc:
                    # Unclaimed cluster-wide, so never sent: a terminal state, not a dangling
                    # `received` row.
                    entry = await self._move(entry, S.REJECTED, note="store claim failed",
                                             message=f"not sent: the request could not be "
                                             f"claimed in the shared store ({exc.message})")
                    return entry.outcome()
                if owner is not None:
                    await self._db.forget(request.request_id, S.RECEIVED)
                    return OrderOutcome(
                        request_id=request.request_id, state=S.RECEIVED,
                        side=request.side, ticker=request.ticker, qty=request.qty,
                        order_type=request.order_type, price=request.price,
                        message=f"claimed by another trading agent ({owner[:8]}); ask it",
                        updated_at=self.market_now(), env=self.env)
            if entry.state in (S.RECEIVED, S.SENT, S.UNKNOWN):
                entry = await self._run(entry)
                log.info("order %s %s %s x%d → %s %s (attempts %d)", request.request_id,
                         action_word(request.side), request.ticker or request.order_no,
                         request.qty, entry.state.value, entry.order_no or "-", entry.attempts)
            return entry.outcome()

    async def cancelable_orders(self) -> list[OpenOrder]:
        """Orders of today with an unfilled remainder, from the broker."""
        return await self.broker.cancelable_orders(self._today())

    # --- more use cases ---------------------------------------------------------------------

    async def balance(self) -> Balance:
        """Cash, positions (average price, current price, P/L) and total value."""
        return await self.broker.balance()

    async def outcome(self, request_id: str) -> OrderOutcome | None:
        """The stored outcome of a request_id, without touching the broker."""
        entry = await self._db.get(request_id)
        return entry.outcome() if entry else None

    async def orders(self, *, limit: int = 200) -> list[OrderOutcome]:
        """Recent requests, newest first, as the ledger has them."""
        return [e.outcome() for e in await self._db.entries(limit=limit)]

    async def in_flight(self) -> list[InFlightOrder]:
        """Every buy or sell that may still trade, for exposure: `sent` and `unknown`
        requests at their full size (an ambiguous order counts until it is matched or
        expired), and orders booked today with an unfilled remainder (per the fills the
        ledger last saw: call `refresh()` first for current ones)."""
        today = self._today().strftime("%Y%m%d")
        out = []
        for e in await self._db.in_states(*_PENDING, *_BOOKED_OPEN):
            r = e.request
            if r.side is None:
                continue
            if e.state in _BOOKED_OPEN:
                # A day order does not outlive its session.
                if e.order_date and e.order_date != today:
                    continue
                open_qty = r.qty - e.filled_qty
                if open_qty <= 0:
                    continue
            else:
                open_qty = r.qty
            out.append(InFlightOrder(
                request_id=r.request_id, state=e.state, side=r.side, ticker=r.ticker,
                qty=r.qty, open_qty=open_qty, order_type=r.order_type, price=r.price,
                order_no=e.order_no, order_date=e.order_date))
        return out

    async def recover(self) -> int:
        """Startup recovery: every `sent` row (a previous process was killed mid-call) becomes
        `unknown`, and every unknown request is checked once against the order inquiry.
        Nothing is ever sent. Returns how many it resolved."""
        for entry in await self._db.in_states(S.SENT):
            rid = entry.request.request_id
            if self._request_locks.busy(rid):
                continue
            async with self._request_locks.hold(rid):
                await self._adopt(rid)
        return await self.reconcile_pending(force=True)

    async def reconcile_pending(self, *, force: bool = False) -> int:
        """One reconciliation pass (the trading server runs it periodically): each `unknown`
        request whose back-off has run out (all of them with `force`) is checked once
        against the broker's order inquiry, and matched, left unknown, or expired once its
        session is over. A `sent` row older than `adopt_sent_after_s` that this process is
        not sending is adopted as unknown. Returns how many it resolved."""
        resolved = 0
        now = self._monotonic()
        for entry in await self._db.in_states(S.SENT, S.UNKNOWN):
            rid = entry.request.request_id
            if self._request_locks.busy(rid):
                continue    # being sent or checked right now
            if entry.state is S.SENT and not self._abandoned(entry):
                continue
            slot = self._backoff.get(rid)
            if not force and slot is not None and slot.due_at > now:
                continue
            async with self._request_locks.hold(rid):
                current = await self._adopt(rid)
                if current is None or current.state is not S.UNKNOWN:
                    continue
                after = await self._check(current)
                resolved += after.state is not S.UNKNOWN
        return resolved

    async def refresh(self) -> None:
        """Bring requests up to date with the broker: due reconciliations of unknown ones
        (`reconcile_pending`), then fills and cancels of booked ones."""
        await self.reconcile_pending()
        entries = [e for e in await self._db.in_states(S.ACCEPTED, S.RECONCILED)
                   if not e.request.is_cancel and e.order_no]
        days = sorted({e.order_date or self._today().strftime("%Y%m%d") for e in entries})
        rows: dict[str, OrderReport] = {}
        for day in days:
            for report in await self.broker.daily_orders(_order_date(day)):
                rows[report.order_no] = report
        cancelled_by_rows = cancelled_quantities(rows.values())
        for e in entries:
            row = rows.get(e.order_no or "")
            if row is None:
                continue
            fields = {"filled_qty": row.filled_qty,
                      "avg_fill_price": row.avg_fill_price or None}
            if row.filled_qty >= e.request.qty:
                to = S.FILLED
            elif is_cancelled(row, cancelled_by_rows.get(row.order_no, 0)):
                to = S.CANCELLED
            elif row.filled_qty != e.filled_qty:
                to = e.state
            else:
                continue
            try:
                await self._db.move(e.request.request_id, e.state, to, self.market_now(),
                                    note="refresh", **fields)
            except LedgerError as exc:
                log.info("refresh skipped %s: %s", e.request.request_id, exc)

    # --- the state machine ------------------------------------------------------------------

    def _today(self) -> date:
        return self.market_now().astimezone(KST).date()

    async def _claim_in_store(self, request: OrderRequest) -> str | None:
        """None if this agent owns the request in the shared store, else the owner's id."""
        if self.store is None:
            return None
        store = self.store
        key = f"orders/claims/{request.request_id}.json"
        doc = claim_document(request, self.ledger.instance_id, self.market_now())
        if await asyncio.to_thread(store.put_if_absent, key, doc):
            return None
        raw = await asyncio.to_thread(store.get, key)
        try:
            owner = str(json.loads(raw or b"{}").get("owner", ""))
        except json.JSONDecodeError:
            owner = "unreadable-claim"
        return None if owner == self.ledger.instance_id else owner

    def _stale(self, request: OrderRequest) -> bool:
        limit = self.policy.max_request_age_s
        if limit is None:
            return False
        age = (datetime.now(UTC) - request.timestamp).total_seconds()
        # A little future skew between hosts is normal; much more is a wrong clock.
        return age > limit or age < -60

    def _signature(self, request: OrderRequest) -> Hashable:
        if request.side is None:
            return ("cancel", request.order_no)
        return (request.ticker, request.side)

    def _abandoned(self, entry: LedgerEntry) -> bool:
        age = (self.market_now() - entry.updated_at).total_seconds()
        return age >= self.policy.adopt_sent_after_s

    async def _adopt(self, request_id: str) -> LedgerEntry | None:
        """The current entry; a `sent` one (its sender died mid-call) becomes `unknown`.
        The caller holds the request's lock."""
        entry = await self._db.get(request_id)
        if entry is not None and entry.state is S.SENT:
            entry = await self._move(entry, S.UNKNOWN, note="found sent: the process that "
                                     "sent it stopped during the call",
                                     message=f"outcome unknown: the process stopped while "
                                     f"sending (attempt {entry.attempts})")
        return entry

    async def _run(self, entry: LedgerEntry) -> LedgerEntry:
        """Drive one request (its lock held) until it is resolved or unknown."""
        if entry.state is S.SENT:
            entry = await self._adopt(entry.request.request_id) or entry
        if entry.state is S.UNKNOWN:
            # A repeat of the request asks the broker only when its back-off allows: a
            # client polling for the outcome must not spend the account's rate budget.
            slot = self._backoff.get(entry.request.request_id)
            if slot is not None and slot.due_at > self._monotonic():
                return entry
            return await self._reconcile_now(entry, (0.0,))
        while entry.state is S.RECEIVED:
            if entry.attempts >= self.policy.max_attempts:
                return await self._move(entry, S.REJECTED, note="attempts exhausted",
                                        message=f"not booked: gave up after {entry.attempts} "
                                        f"attempts ({entry.message})")
            if entry.attempts > 0:
                await self._sleep(self.policy.retry_delay_s)
            async with self._signature_locks.hold(self._signature(entry.request)):
                entry = await self._move(entry, S.SENT, note=f"attempt {entry.attempts + 1}",
                                         attempts=entry.attempts + 1,
                                         order_date=self._today().strftime("%Y%m%d"))
                entry = await self._send(entry)
            if entry.state is S.UNKNOWN:
                return await self._reconcile_now(entry, self.policy.reconcile_delays_s)
        return entry

    async def _move(self, entry: LedgerEntry, to: OrderState, *, note: str = "",
                    **fields: object) -> LedgerEntry:
        return await self._db.move(entry.request.request_id, entry.state, to,
                                   self.market_now(), note=note, **fields)

    async def _send(self, entry: LedgerEntry) -> LedgerEntry:
        r = entry.request
        if r.side is None:
            return await self._send_cancel(entry)
        self.broker_calls += 1
        try:
            ticket = await self.broker.place(r.side, r.ticker, r.qty, r.order_type, r.price)
        except BrokerError as exc:
            return await self._after_error(entry, exc)
        return await self._booked(entry, S.ACCEPTED, ticket.order_no, ticket.org_no,
                                  ticket.code, ticket.message, note="accepted")

    async def _booked(self, entry: LedgerEntry, to: OrderState, order_no: str, org_no: str,
                      code: str | None, message: str, *, note: str) -> LedgerEntry:
        rid = entry.request.request_id
        try:
            return await self._move(entry, to, note=note, order_no=order_no, org_no=org_no,
                                    code=code, message=message)
        except LedgerError:
            current = await self._db.get(rid)
        if current is not None and current.state is S.UNKNOWN and entry.state is S.SENT:
            # Another process's recovery adopted the row while the answer was on its way:
            # the ticket is the match.
            try:
                return await self._move(current, S.RECONCILED, note="answer after adoption",
                                        order_no=order_no, org_no=org_no, code=code,
                                        message=message)
            except LedgerError:
                current = await self._db.get(rid)
        if current is not None and current.state is S.SENT:
            # The broker's order number is already another request's: the broker and the
            # ledger disagree. Leave it unknown for reconciliation rather than guess.
            log.error("order %s answered for %s is owned by another request", order_no, rid)
            return await self._move(current, S.UNKNOWN, note="order number clash",
                                    message=f"outcome unknown: broker order {order_no} "
                                    "already belongs to another request")
        return current or entry

    async def _after_error(self, entry: LedgerEntry, exc: BrokerError) -> LedgerEntry:
        text = exc.message
        if _certainly_not_sent(exc):
            return await self._move(entry, S.RECEIVED, note=f"not sent: {text}",
                                    code=exc.code, message=text)
        if _outcome_unknown(exc):
            return await self._move(entry, S.UNKNOWN, note=f"outcome unknown: {text}",
                                    code=exc.code, message=f"outcome unknown: {text}")
        return await self._move(entry, S.REJECTED, note="rejected by the broker",
                                code=exc.code, message=text)

    async def _send_cancel(self, entry: LedgerEntry) -> LedgerEntry:
        r = entry.request
        assert r.order_no is not None
        original = await self._db.by_order_no(r.order_no)
        org_no = original.org_no if original and original.org_no else None
        if org_no is None:
            try:
                open_orders = await self.broker.cancelable_orders(self._today())
            except BrokerError as exc:
                # Only an inquiry failed: the cancel itself never left.
                return await self._move(entry, S.RECEIVED, note=f"not sent: {exc.message}",
                                        code=exc.code, message=exc.message)
            match = next((o for o in open_orders if o.order_no == r.order_no), None)
            if match is None:
                return await self._move(entry, S.REJECTED, note="not open",
                                        message=f"order {r.order_no} has nothing left to "
                                        "cancel")
            org_no = match.org_no
        self.broker_calls += 1
        try:
            ticket = await self.broker.cancel(org_no, r.order_no, r.qty)
        except BrokerError as exc:
            return await self._after_error(entry, exc)
        done = await self._booked(entry, S.CANCELLED, ticket.order_no, ticket.org_no,
                                  ticket.code, ticket.message, note="cancel accepted")
        await self._mark_original_cancelled(r.order_no)
        return done

    async def _mark_original_cancelled(self, order_no: str) -> None:
        original = await self._db.by_order_no(order_no)
        if original and original.state in (S.ACCEPTED, S.RECONCILED):
            try:
                await self._move(original, S.CANCELLED, note="cancelled by request")
            except LedgerError as exc:
                log.info("could not mark %s cancelled: %s", order_no, exc)

    # --- reconciliation ---------------------------------------------------------------------

    def _match(self, entry: LedgerEntry, rows: list[OrderReport],
               known: set[str]) -> OrderReport | None:
        r = entry.request
        for row in sorted(rows, key=lambda x: x.order_no):
            if row.order_no in known:
                continue
            if r.is_cancel:
                if row.cancelled and row.original_order_no == r.order_no:
                    return row
                continue
            if row.cancelled or row.original_order_no is not None:
                continue
            if row.ticker != r.ticker or row.side is not r.side or row.qty != r.qty:
                continue
            if row.order_type is not r.order_type:
                continue
            if r.order_type is OrderType.LIMIT and row.price != r.price:
                continue
            return row
        return None

    async def _reconcile_now(self, entry: LedgerEntry,
                             delays: tuple[float, ...]) -> LedgerEntry:
        """Inquiries right after an unknown outcome (the common case, a lost answer, ends
        here); a request still unknown is left to `reconcile_pending`."""
        for delay in delays:
            if delay:
                await self._sleep(delay)
            entry = await self._check(entry)
            if entry.state is not S.UNKNOWN:
                break
        return entry

    def _order_day(self, entry: LedgerEntry) -> date:
        if entry.order_date:
            return _order_date(entry.order_date)
        return entry.updated_at.astimezone(KST).date()

    def _live_until(self, day: date) -> datetime:
        if self._calendar is None and self._calendar_source is not None:
            try:
                self._calendar = self._calendar_source()
            except (QuartzError, OSError, ValueError) as exc:
                log.warning("no KRX calendar (%s); an order's session is its order date", exc)
                self._calendar_source = None
        return last_booking_moment(day, self._calendar,
                                   timedelta(seconds=self.policy.expiry_margin_s))

    async def _check(self, entry: LedgerEntry) -> LedgerEntry:
        """One order inquiry for an unknown request (its lock held): matched, expired (the
        inquiry was made after the order could last have been booked), or still unknown
        with the inquiry noted in its history and its next check scheduled."""
        r = entry.request
        rid = r.request_id
        day = self._order_day(entry)
        asked_at = self.market_now()
        async with self._signature_locks.hold(self._signature(r)):
            self.inquiries += 1
            try:
                if r.side is None:
                    rows = await self.broker.daily_orders(day)
                else:
                    rows = await self.broker.daily_orders(day, ticker=r.ticker, side=r.side)
            except BrokerError as exc:
                log.info("reconcile inquiry for %s failed: %s", rid, exc.message)
                await self._db.note(rid, asked_at, f"{_INQUIRY_FAILED}{_hms(asked_at)} KST: "
                                    f"{exc.message}")
                self._schedule(rid)
                return entry
            # A clash means a concurrent reconciliation (maybe in another process) took that
            # order first: match again against the order numbers now known.
            for _ in range(5):
                found = self._match(entry, rows, await self._db.known_order_nos())
                if found is None:
                    break
                try:
                    done = await self._move(entry, S.RECONCILED, note="reconciled",
                                            order_no=found.order_no, org_no=found.org_no,
                                            message=f"found by the order inquiry at "
                                            f"{_hms(asked_at)} KST after: {entry.message}")
                except LedgerError:
                    current = await self._db.get(rid)
                    if current is None or current.state is not S.UNKNOWN:
                        self._backoff.pop(rid, None)
                        return current or entry
                    continue
                self._backoff.pop(rid, None)
                if r.is_cancel:
                    await self._mark_original_cancelled(r.order_no or "")
                return done
        live_until = self._live_until(day)
        await self._db.note(rid, asked_at, f"{_INQUIRY}{_hms(asked_at)} KST: no match among "
                            f"{len(rows)} orders of {day.isoformat()}")
        if asked_at < live_until:
            self._schedule(rid)
            return entry
        self._backoff.pop(rid, None)
        notes = [note for _, _, note in await self._db.history(rid)]
        return await self._move(
            entry, S.EXPIRED, note="expired: not booked",
            message=f"not booked: the {day.isoformat()} session is over (no booking after "
            f"{live_until.astimezone(KST):%Y-%m-%d %H:%M} KST) and {_evidence(notes)}; "
            f"before: {entry.message}")

    def _schedule(self, request_id: str) -> None:
        """Back off the next inquiry for `request_id`: `backoff_s`, doubling to the cap."""
        slot = self._backoff.get(request_id)
        delay = (self.policy.backoff_s if slot is None
                 else min(slot.delay_s * 2, self.policy.backoff_max_s))
        self._backoff[request_id] = _Backoff(self._monotonic() + delay, delay)
