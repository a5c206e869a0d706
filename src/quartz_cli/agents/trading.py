"""The trading agent: executes each order request exactly once at the broker.

The rules, in the order they apply:
1. A request_id is claimed in the ledger (and, when a store is wired, with a put-if-absent
   claim `orders/claims/<request_id>.json`, so two replicas cannot both own it) before the
   broker is called. A known request_id returns its stored outcome (or resumes it if a
   previous process stopped midway).
2. The state moves to `sent` durably before each call. Up to `max_attempts` sends,
   `retry_delay_s` apart, and only when the previous one certainly did not reach the broker
   (refused for rate, connection refused, a rejected token) or the order inquiry proved it was not
   booked.
3. When the outcome is unknown (timeout after send, dropped connection, a 5xx), the agent
   asks the broker's daily order inquiry, several times; it never re-sends blindly. A match
   that no other request owns makes the request `reconciled`; absence confirmed by at least
   `min_absent_checks` answers makes it eligible for another send; no answer at all leaves it
   `unknown` (the next submit of the same request_id, or `recover()`, tries again).
4. Sends with the same ticker and side are serialised from send until resolution, so a
   reconciliation can never confuse two of this process's in-flight orders.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime

from quartz_cli.domain.account import Balance
from quartz_cli.domain.krx import KST
from quartz_cli.domain.orders import (
    OpenOrder,
    OrderOutcome,
    OrderReport,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    action_word,
)
from quartz_cli.errors import (
    BrokerError,
    BrokerUnavailable,
    InputError,
    RateLimited,
    SafetyRefusal,
    TokenIssueThrottled,
    TokenRejected,
)
from quartz_cli.ports import Broker, LedgerEntry, LedgerError, OrderLedger, Store

log = logging.getLogger(__name__)
S = OrderState


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the agent tries. The defaults are the seed's: 3 attempts, 1 s apart."""

    max_attempts: int = 3
    retry_delay_s: float = 1.0
    # Waits before each reconciliation inquiry after an unknown outcome.
    reconcile_delays_s: tuple[float, ...] = (0.0, 1.0, 2.0)
    # Answers saying "not booked" needed before a request counts as not sent.
    min_absent_checks: int = 2
    # A request first seen this long after its timestamp (wall clock) is refused unsent: a
    # decision delayed by an outage must not trade on stale prices. None = no limit.
    max_request_age_s: float | None = 600.0


class _KeyedLocks:
    """asyncio locks by key, dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

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


def claim_document(request: OrderRequest, owner: str, now: datetime) -> bytes:
    """The store claim `orders/claims/<request_id>.json` (no account data in it)."""
    return json.dumps({"request_id": request.request_id, "owner": owner,
                       "fingerprint": request.fingerprint(),
                       "claimed_at": now.astimezone(UTC).isoformat()}).encode()


def _certainly_not_sent(exc: BrokerError) -> bool:
    if isinstance(exc, (RateLimited, TokenRejected, TokenIssueThrottled)):
        return True
    return isinstance(exc, BrokerUnavailable) and not exc.maybe_sent


def _outcome_unknown(exc: BrokerError) -> bool:
    if isinstance(exc, BrokerUnavailable):
        return exc.maybe_sent
    # A 5xx other than the rate limit may come after the order was booked.
    return exc.status is not None and exc.status >= 500


class TradingAgent:
    """Implements the `OrderExecutor` port in-process over a `Broker` and an `OrderLedger`."""

    def __init__(self, broker: Broker, ledger: OrderLedger, *, env: str,
                 market_now: Callable[[], datetime], store: Store | None = None,
                 policy: RetryPolicy | None = None, live_trading_allowed: bool = True,
                 sleep: Callable[[float], object] = asyncio.sleep) -> None:
        self.broker = broker
        self.ledger = ledger
        self.env = env
        self.market_now = market_now
        self.store = store
        self.policy = policy or RetryPolicy()
        self.live_trading_allowed = live_trading_allowed
        self._sleep = sleep
        self._request_locks = _KeyedLocks()
        self._signature_locks = _KeyedLocks()
        self.broker_calls = 0

    # --- OrderExecutor ----------------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> OrderOutcome:
        """Execute `request` once; a known request_id returns (or resumes) its outcome."""
        if not self.live_trading_allowed:
            raise SafetyRefusal("real-money orders are disabled",
                                hint="set QUARTZ_LIVE_TRADING=true to allow orders in prod")
        async with self._request_locks.hold(request.request_id):
            entry, created = self.ledger.claim(request, self.env, self.market_now())
            if not created and entry.fingerprint != request.fingerprint():
                raise InputError(f"request_id {request.request_id} was already used for a "
                                 "different order", hint="use a new request_id per order")
            if created and self._stale(request):
                entry = self._move(entry, S.REJECTED, note="stale request",
                                   message=f"not sent: the request is older than "
                                   f"{self.policy.max_request_age_s:.0f} s (or from the "
                                   "future); decide again and send a new request")
            if entry.state is S.RECEIVED and entry.attempts == 0:
                owner = await self._claim_in_store(request)
                if owner is not None:
                    self.ledger.forget(request.request_id, S.RECEIVED)
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
        entry = self.ledger.get(request_id)
        return entry.outcome() if entry else None

    def orders(self, *, limit: int = 200) -> list[OrderOutcome]:
        """Recent requests, newest first, as the ledger has them."""
        return [e.outcome() for e in self.ledger.entries(limit=limit)]

    async def recover(self) -> int:
        """Resolve requests a previous process left `sent` or `unknown` (it was killed
        mid-call): reconcile each through the order inquiry. Returns how many it resolved."""
        resolved = 0
        for entry in self.ledger.in_states(S.SENT, S.UNKNOWN):
            async with self._request_locks.hold(entry.request.request_id):
                current = self.ledger.get(entry.request.request_id)
                if current is None or current.state not in (S.SENT, S.UNKNOWN):
                    continue
                after = await self._run(current)
                resolved += after.state not in (S.SENT, S.UNKNOWN)
        return resolved

    async def refresh(self) -> None:
        """Bring booked orders up to date with the broker's fills and cancels."""
        entries = [e for e in self.ledger.in_states(S.ACCEPTED, S.RECONCILED)
                   if not e.request.is_cancel and e.order_no]
        days = sorted({e.order_date or self._today().strftime("%Y%m%d") for e in entries})
        rows: dict[str, OrderReport] = {}
        for day in days:
            for row in await self.broker.daily_orders(datetime.strptime(day, "%Y%m%d").date()):
                rows[row.order_no] = row
        for e in entries:
            row = rows.get(e.order_no or "")
            if row is None:
                continue
            fields = {"filled_qty": row.filled_qty,
                      "avg_fill_price": row.avg_fill_price or None}
            if row.filled_qty >= e.request.qty:
                to = S.FILLED
            elif row.remaining_qty == 0 and row.cancel_confirmed_qty > 0:
                to = S.CANCELLED
            elif row.filled_qty != e.filled_qty:
                to = e.state
            else:
                continue
            try:
                self.ledger.move(e.request.request_id, e.state, to, self.market_now(),
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

    async def _run(self, entry: LedgerEntry) -> LedgerEntry:
        async with self._signature_locks.hold(self._signature(entry.request)):
            while True:
                if entry.state in (S.SENT, S.UNKNOWN):
                    entry = await self._resolve_unknown(entry)
                    if entry.state is not S.RECEIVED:
                        return entry
                if entry.state is not S.RECEIVED:
                    return entry
                if entry.attempts >= self.policy.max_attempts:
                    return self._move(entry, S.REJECTED, note="attempts exhausted",
                                      message=f"not booked: gave up after {entry.attempts} "
                                      f"attempts ({entry.message})")
                if entry.attempts > 0:
                    await self._sleep(self.policy.retry_delay_s)
                entry = self._move(entry, S.SENT, note=f"attempt {entry.attempts + 1}",
                                   attempts=entry.attempts + 1,
                                   order_date=self._today().strftime("%Y%m%d"))
                entry = await self._send(entry)

    def _move(self, entry: LedgerEntry, to: OrderState, *, note: str = "",
              **fields: object) -> LedgerEntry:
        return self.ledger.move(entry.request.request_id, entry.state, to, self.market_now(),
                                note=note, **fields)

    async def _send(self, entry: LedgerEntry) -> LedgerEntry:
        r = entry.request
        self.broker_calls += 1
        try:
            if r.side is None:
                return await self._send_cancel(entry)
            ticket = await self.broker.place(r.side, r.ticker, r.qty, r.order_type, r.price)
        except BrokerError as exc:
            return self._after_error(entry, exc)
        return self._booked(entry, S.ACCEPTED, ticket.order_no, ticket.org_no,
                            ticket.code, ticket.message, note="accepted")

    def _booked(self, entry: LedgerEntry, to: OrderState, order_no: str, org_no: str,
                code: str | None, message: str, *, note: str) -> LedgerEntry:
        try:
            return self._move(entry, to, note=note, order_no=order_no, org_no=org_no,
                              code=code, message=message)
        except LedgerError:
            # The broker's order number is already another request's: the broker and the
            # ledger disagree. Leave it unknown for a human rather than guess.
            log.error("order %s answered for %s is owned by another request",
                      order_no, entry.request.request_id)
            return self._move(entry, S.UNKNOWN, note="order number clash",
                              message=f"broker order {order_no} already belongs to another "
                              "request; check by hand")

    def _after_error(self, entry: LedgerEntry, exc: BrokerError) -> LedgerEntry:
        text = exc.message
        if _certainly_not_sent(exc):
            return self._move(entry, S.RECEIVED, note=f"not sent: {text}", code=exc.code,
                              message=text)
        if _outcome_unknown(exc):
            return self._move(entry, S.UNKNOWN, note=f"outcome unknown: {text}", code=exc.code,
                              message=text)
        return self._move(entry, S.REJECTED, note="rejected by the broker", code=exc.code,
                          message=text)

    async def _send_cancel(self, entry: LedgerEntry) -> LedgerEntry:
        r = entry.request
        assert r.order_no is not None
        original = self.ledger.by_order_no(r.order_no)
        org_no = original.org_no if original and original.org_no else None
        if org_no is None:
            open_orders = await self.broker.cancelable_orders(self._today())
            match = next((o for o in open_orders if o.order_no == r.order_no), None)
            if match is None:
                return self._move(entry, S.REJECTED, note="not open",
                                  message=f"order {r.order_no} has nothing left to cancel")
            org_no = match.org_no
        ticket = await self.broker.cancel(org_no, r.order_no, r.qty)
        done = self._booked(entry, S.CANCELLED, ticket.order_no, ticket.org_no, ticket.code,
                            ticket.message, note="cancel accepted")
        self._mark_original_cancelled(r.order_no)
        return done

    def _mark_original_cancelled(self, order_no: str) -> None:
        original = self.ledger.by_order_no(order_no)
        if original and original.state in (S.ACCEPTED, S.RECONCILED):
            try:
                self._move(original, S.CANCELLED, note="cancelled by request")
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

    async def _resolve_unknown(self, entry: LedgerEntry) -> LedgerEntry:
        if entry.state is S.SENT:
            entry = self._move(entry, S.UNKNOWN, note="resumed after an interrupted send")
        r = entry.request
        day = (datetime.strptime(entry.order_date, "%Y%m%d").date() if entry.order_date
               else self._today())
        absent = 0
        for delay in self.policy.reconcile_delays_s:
            if delay:
                await self._sleep(delay)
            try:
                if r.side is None:
                    rows = await self.broker.daily_orders(day)
                else:
                    rows = await self.broker.daily_orders(day, ticker=r.ticker, side=r.side)
            except BrokerError as exc:
                log.info("reconcile inquiry for %s failed: %s", r.request_id, exc.message)
                continue
            found = self._match(entry, rows, self.ledger.known_order_nos())
            if found is not None:
                done = self._booked(entry, S.RECONCILED, found.order_no, found.org_no, None,
                                    f"found by the order inquiry after: {entry.message}",
                                    note="reconciled")
                if r.is_cancel and done.state is S.RECONCILED:
                    self._mark_original_cancelled(r.order_no or "")
                return done
            absent += 1
        if absent >= self.policy.min_absent_checks:
            return self._move(entry, S.RECEIVED, note=f"not booked ({absent} inquiries)",
                              message=f"not booked (checked {absent}x) after: {entry.message}")
        return entry
