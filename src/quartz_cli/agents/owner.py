"""The account owner: the one place an account's orders pass on their way to the broker.

`AccountOwner` implements the `OrderExecutor` port around the `TradingAgent` (the
per-request state machine and its ledger). For each new buy or sell it:

1. reads the account outside the check's lock (so orders being checked at once read in
   parallel): the ledger's in-flight requests first, then the broker's cash and holdings
   (`Broker.balance`), kept as a snapshot for `SNAPSHOT_MAX_AGE_S` so a burst of orders costs
   one balance inquiry, not one each; and the quote it needs (kept `QUOTE_MAX_AGE_S`);
2. under one lock per account, adds every request the ledger gained since that snapshot
   (at full size: the balance may predate them), runs the pre-trade stage
   (`domain.pretrade.check_order`) and claims the request in the ledger: from then on the
   next order's check counts it in flight;
3. records a refusal in the ledger (state `rejected`, code `pretrade:<rule>`; the broker
   never sees it), or hands the claimed order to the trading agent.

Cancels, and request_ids the ledger already knows (past their claim), go straight to the
trading agent (a cancel only reduces exposure; a known request returns its stored outcome).
The daily loss limit moves the account to reduce-only by itself. When the account cannot be
read the order is not sent (`BrokerUnavailable`: ask again with the same request_id)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from quartz_cli.agents.trading import KeyedLocks, TradingAgent
from quartz_cli.domain.account import Balance
from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.decision import Quote
from quartz_cli.domain.events import EventType
from quartz_cli.domain.krx import KST
from quartz_cli.domain.order_window import check_order_window
from quartz_cli.domain.orders import OpenOrder, OrderOutcome, OrderRequest, OrderState, OrderType
from quartz_cli.domain.pretrade import (
    AccountState,
    DayTurnover,
    HeldPosition,
    InFlight,
    Limits,
    MarketFacts,
    PretradeRule,
    Refusal,
    TradingState,
    check_order,
    daily_loss_breached,
    day_turnover,
    worst_price,
)
from quartz_cli.errors import BrokerError, BrokerUnavailable
from quartz_cli.logs import log_context
from quartz_cli.ports import (
    AccountStateStore,
    EventSink,
    LedgerEntry,
    LedgerError,
    MarketData,
    OrderLedger,
    TradingStatus,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

S = OrderState
# A request in one of these states may still (partly) fill at the broker. `received` counts
# once claimed: the owner claims before it hands the request to the trading agent.
IN_FLIGHT_STATES = (S.RECEIVED, S.SENT, S.UNKNOWN, S.ACCEPTED, S.RECONCILED)
# States whose fills (if any) count in today's turnover.
TRADED_STATES = (S.ACCEPTED, S.RECONCILED, S.FILLED, S.CANCELLED)
ALL_STATES = tuple(OrderState)
# Reads of the account before a check: attempts, and the pause before the next one.
READ_ATTEMPTS = 3
READ_PAUSE_S = 0.2
# Fills are pulled from the broker at most this often for the checks (each pull is a paged
# order inquiry); a fill not pulled yet only makes a check stricter.
REFRESH_EVERY_S = 1.0
# How long one reading of the account serves the checks. Safe at any age: every request the
# ledger gained since counts whole (see `exposure`); the age only bounds how stale prices
# and the broker's own view (fills, cancels) may be, which only makes checks stricter.
SNAPSHOT_MAX_AGE_S = 5.0
# Past this age a check waits for the new reading instead of using the old one.
SNAPSHOT_WAIT_AGE_S = 30.0
# A quote serves a ticker's checks this long: its daily limits are fixed for the day, and its
# price only values the order (a limit order at the higher of its limit and that price).
QUOTE_MAX_AGE_S = 30.0
# The ledger is asked for what changed since a snapshot from this long before it was read,
# so a clock step between the owner's reads and the ledger's stamps cannot hide a request.
LEDGER_OVERLAP = timedelta(seconds=2)


def _entry_day(entry: LedgerEntry) -> date:
    if entry.order_date:
        d = entry.order_date
        return date(int(d[:4]), int(d[4:6]), int(d[6:8]))
    return entry.updated_at.astimezone(KST).date()


def _remaining(e: LedgerEntry) -> int:
    return e.request.qty - e.filled_qty


def ledger_today(ledger: OrderLedger, today: date) -> dict[str, LedgerEntry]:
    """Today's buy and sell requests, by request_id (blocking: call it in a thread). Every
    request of a day was moved that day, so the ledger is asked only for those."""
    since = datetime(today.year, today.month, today.day, tzinfo=KST)
    return {e.request.request_id: e for e in ledger.updated_since(since)
            if not e.request.is_cancel and _entry_day(e) == today}


def in_flight(entries: dict[str, LedgerEntry]) -> dict[str, LedgerEntry]:
    """The requests that may still fill: claimed or sent, unknown (counted whole until
    reconciled), booked with a remainder. Orders are day orders at KRX, so only today's."""
    return {rid: e for rid, e in entries.items()
            if e.state in IN_FLIGHT_STATES and _remaining(e) > 0}


def exposure(before: dict[str, LedgerEntry], now: dict[str, LedgerEntry],
             exclude: str) -> list[tuple[LedgerEntry, int]]:
    """(request, shares that may still fill) for the check: requests in flight when the
    balance was read count their remainder then; requests the ledger gained since count
    whole, since the balance cannot show them (a fill counted twice is safe, none is not)."""
    flying = in_flight(before)
    out = [(e, _remaining(e)) for rid, e in flying.items() if rid != exclude]
    for rid, e in now.items():
        if rid in before or rid == exclude:
            continue
        if e.state in (S.REJECTED, S.EXPIRED):
            continue
        out.append((e, e.request.qty))
    return out


def filled_today(entries: dict[str, LedgerEntry]) -> int:
    """Won traded today by fills the ledger knows of (filled quantity × average price)."""
    return sum(e.filled_qty * (e.avg_fill_price or e.request.price)
               for e in entries.values() if e.state in TRADED_STATES and e.filled_qty)


def _renewal_done(task: asyncio.Task[_Snapshot]) -> None:
    """A background reading that failed: the checks keep the older snapshot (and read for
    themselves once it is too old), so the failure is only logged."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.info("the account could not be read in the background: %s", exc)


@dataclass(frozen=True)
class _Snapshot:
    """One reading of the account: the ledger's requests, then the broker's balance."""

    taken_at: float          # time.monotonic()
    read_at: datetime        # the market clock just before the ledger was read
    today: date
    entries: dict[str, LedgerEntry]
    balance: Balance


@dataclass(frozen=True)
class _View:
    """What one check read before taking the lock."""

    today: date
    read_at: datetime
    entries: dict[str, LedgerEntry]
    balance: Balance
    quotes: dict[str, Quote]
    failed: dict[str, str]
    # Earlier quotes of today (for the day's limits of tickers in flight).
    day_quotes: dict[str, Quote]


class AccountOwner:
    """The `OrderExecutor` of one account: pre-trade risk, trading state and one lock around
    check and hand-off. See the module docstring."""

    def __init__(self, agent: TradingAgent, *, market: MarketData, states: AccountStateStore,
                 calendar: KrxCalendar, limits: Limits, listed: Callable[[str], bool],
                 daily_loss_limit_pct: Decimal, events: EventSink | None = None,
                 refresh_calendar: Callable[[], Awaitable[KrxCalendar]] | None = None) -> None:
        self.agent = agent
        self.events = events
        self.market = market
        self.states = states
        self.calendar = calendar
        # Today's calendar as the broker's holiday inquiry has it, asked before each check.
        self.refresh_calendar = refresh_calendar
        self.limits = limits
        self.listed = listed
        self.daily_loss_limit_pct = daily_loss_limit_pct
        self._lock = asyncio.Lock()
        self._requests = KeyedLocks()
        self._snapshot_lock = asyncio.Lock()
        self._snapshot: _Snapshot | None = None
        self._renewal: asyncio.Task[_Snapshot] | None = None
        self._quotes: dict[str, tuple[float, Quote]] = {}
        self._refreshed_at = -REFRESH_EVERY_S
        self._day_limits: dict[date, dict[str, Quote]] = {}
        self._start_of_day: dict[date, int] = {}

    @property
    def ledger(self) -> OrderLedger:
        return self.agent.ledger

    def _now(self) -> datetime:
        return self.agent.market_now()

    # --- OrderExecutor ----------------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> OrderOutcome:
        """Check `request` against the account and send it, or record why not. Every log line
        written on its way carries its request_id."""
        with log_context(request_id=request.request_id):
            return await self._submit(request)

    async def _submit(self, request: OrderRequest) -> OrderOutcome:
        if request.is_cancel or not self.agent.live_trading_allowed:
            return await self.agent.submit(request)
        # One pass per request_id at a time: a second copy of a request (two producers, a
        # client's retry) waits for the first and gets its outcome. Checked on its own, it
        # could refuse, and so reject, the claim the first is about to send.
        async with self._requests.hold(request.request_id):
            if await asyncio.to_thread(self._past_claim, request):
                return await self.agent.submit(request)
            view = await self._read(request.ticker)
            async with self._lock:
                # Nothing under the lock waits on the broker: a slow send never holds up
                # the other requests' checks.
                if not await asyncio.to_thread(self._past_claim, request):
                    refusals = await self._check(request, view)
                    if refusals:
                        return await asyncio.to_thread(self._refuse, request, refusals)
                    # The claim is the reservation: from here on every check counts it in
                    # flight.
                    await asyncio.to_thread(self.ledger.claim, request, self.agent.env,
                                            self._now())
            return await self.agent.submit(request)

    def _past_claim(self, request: OrderRequest) -> bool:
        known = self.ledger.get(request.request_id)
        return known is not None and not (known.state is S.RECEIVED and known.attempts == 0)

    async def outcome(self, request_id: str) -> OrderOutcome | None:
        return await self.agent.outcome(request_id)

    async def refresh(self) -> None:
        await self.agent.refresh()

    async def cancelable_orders(self) -> list[OpenOrder]:
        return await self.agent.cancelable_orders()

    # --- what the servers and the CLI also ask ----------------------------------------------

    async def balance(self) -> Balance:
        return await self.agent.balance()

    async def orders(self, *, limit: int = 200) -> list[OrderOutcome]:
        return await self.agent.orders(limit=limit)

    async def recover(self) -> int:
        return await self.agent.recover()

    async def reconcile_pending(self, *, force: bool = False) -> int:
        return await self.agent.reconcile_pending(force=force)

    def trading_status(self) -> TradingStatus:
        return self.states.trading_status()

    def set_trading_state(self, state: TradingState, reason: str) -> TradingStatus:
        """Set the trading state (kept across restarts)."""
        log.warning("trading state → %s (%s)", state.value, reason or "no reason given")
        before = self.states.trading_status().state
        status = self.states.set_trading_state(state, reason, self._now())
        if self.events is not None:
            self.events.append(EventType.TRADING_STATE.value, data={
                "from": before.value, "to": state.value, "reason": reason})
        return status

    # --- the check --------------------------------------------------------------------------

    async def day_turnover(self) -> DayTurnover:
        """The account's turnover budget for today as the check would count it now, so a
        run can plan its buys within what the owner will let through."""
        view = await self._read(None)
        account = await asyncio.to_thread(self.account_state, view)
        return day_turnover(account, self.limits.constraints)

    async def _read(self, ticker: str | None) -> _View:
        """The account as the broker and the ledger show it (outside the check's lock): the
        current snapshot, and quotes for `ticker` (if any) and the market orders in
        flight."""
        if self.refresh_calendar is not None:
            # Here, not in the check: the day's first holiday inquiry may wait on the broker.
            self.calendar = await self.refresh_calendar()
        snap = await self._current_snapshot()
        entries, today = snap.entries, snap.today
        # A market order in flight is reserved at its ticker's upper limit, which is fixed
        # for the day: one quote per ticker and day is enough for those.
        limits = self._day_limits.setdefault(today, {})
        wanted = list(dict.fromkeys(([ticker] if ticker else []) + [
            e.request.ticker for e in in_flight(entries).values()
            if e.request.order_type is OrderType.MARKET and e.request.ticker not in limits]))
        fresh = time.monotonic() - QUOTE_MAX_AGE_S
        got: dict[str, Quote] = {}
        for t in wanted:
            cached = self._quotes.get(t)
            if cached is not None and cached[0] >= fresh:
                got[t] = cached[1]
        missing = [t for t in wanted if t not in got]
        failed: dict[str, str] = {}
        if missing:
            async def quotes() -> tuple[dict[str, Quote], dict[str, str]]:
                return await self.market.quotes(missing)

            new, failed = await self._retrying("quotes", quotes)
            stamp = time.monotonic()
            self._quotes.update({t: (stamp, q) for t, q in new.items()})
            got.update(new)
        limits.update(got)
        return _View(today, snap.read_at, entries, snap.balance, got, failed, dict(limits))

    async def _current_snapshot(self) -> _Snapshot:
        """The account's snapshot. One older than `SNAPSHOT_MAX_AGE_S` is read anew in the
        background while checks go on with it (any age is safe, see `SNAPSHOT_MAX_AGE_S`),
        so the checks never stall behind the broker; a check waits only when there is no
        snapshot of the day, or the one there is `SNAPSHOT_WAIT_AGE_S` old."""
        today = self._now().astimezone(KST).date()
        snap = self._snapshot
        age = time.monotonic() - snap.taken_at if snap is not None else None
        if snap is not None and snap.today == today and age is not None:
            if age <= SNAPSHOT_MAX_AGE_S:
                return snap
            if age <= SNAPSHOT_WAIT_AGE_S:
                if self._renewal is None or self._renewal.done():
                    self._renewal = asyncio.create_task(self._renew(today))
                    self._renewal.add_done_callback(_renewal_done)
                return snap
        return await self._renew(today)

    async def _renew(self, today: date) -> _Snapshot:
        """Read the account anew (one reader at a time; the others reuse its reading)."""
        async with self._snapshot_lock:
            snap = self._snapshot
            if (snap is not None and snap.today == today
                    and time.monotonic() - snap.taken_at <= SNAPSHOT_MAX_AGE_S):
                return snap
            taken_at = time.monotonic()
            read_at = self._now()
            entries = await asyncio.to_thread(ledger_today, self.ledger, today)
            booked = [e for e in in_flight(entries).values()
                      if e.state in (S.ACCEPTED, S.RECONCILED)]
            if booked and time.monotonic() - self._refreshed_at > REFRESH_EVERY_S:
                # Fills the broker booked would otherwise count twice: in the balance and in
                # flight. The ledger is read after the refresh and before the balance.
                self._refreshed_at = time.monotonic()
                try:
                    await self.agent.refresh()
                except BrokerError as exc:
                    log.info("fills not refreshed before a check: %s", exc.message)
                entries = await asyncio.to_thread(ledger_today, self.ledger, today)
            balance = await self._retrying("the balance", self.agent.balance)
            self._snapshot = _Snapshot(taken_at, read_at, today, entries, balance)
            return self._snapshot

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return await call()
            except BrokerError as exc:
                if attempt == READ_ATTEMPTS:
                    raise BrokerUnavailable(f"the account owner could not read {what} "
                                            f"({exc.message}); the order was not sent",
                                            hint="ask again with the same request_id") from None
                await asyncio.sleep(READ_PAUSE_S * attempt)
        raise AssertionError("unreachable")

    def account_state(self, view: _View, exclude: str = "") -> AccountState:
        """The account before one more order: the view's balance and quotes, with the orders
        in flight as the ledger has them now (see `exposure`). Blocking (the ledger and the
        state store): call it in a thread."""
        now = self._now()
        today = view.today
        # The snapshot's requests brought up to date with what the ledger changed since
        # (a whole day's ledger is not read again for every check).
        entries_now = dict(view.entries)
        entries_now.update({e.request.request_id: e
                            for e in self.ledger.updated_since(view.read_at - LEDGER_OVERLAP)
                            if not e.request.is_cancel and _entry_day(e) == today})
        flying = exposure(view.entries, entries_now, exclude)
        positions = tuple(HeldPosition(p.ticker, p.qty, view.quotes[p.ticker].price
                                       if p.ticker in view.quotes else p.current_price)
                          for p in view.balance.positions if p.qty > 0)
        in_flight_orders = tuple(self._in_flight(e, qty, view) for e, qty in flying)
        status = self.states.trading_status()
        # Valued as KIS values the account: holdings plus the D+2 cash (trades settle T+2).
        total = view.balance.d2_cash_krw + sum(p.qty * p.price for p in positions)
        trading_day = self.calendar.is_trading_day(today)
        sod = total
        if trading_day:
            if today not in self._start_of_day:
                self._start_of_day[today] = self.states.start_of_day(today, total, now)
            sod = self._start_of_day[today]
        state = status.state
        if state is TradingState.ACTIVE and trading_day:
            breach = daily_loss_breached(total, sod, self.daily_loss_limit_pct)
            if breach is not None and self.states.first_loss_trip(today, now):
                state = self.set_trading_state(TradingState.REDUCE_ONLY, breach).state
        return AccountState(cash_krw=view.balance.spendable_krw, positions=positions,
                            in_flight=in_flight_orders, start_of_day_value=sod,
                            filled_today_krw=filled_today(entries_now), trading_state=state)

    @staticmethod
    def _in_flight(e: LedgerEntry, qty: int, view: _View) -> InFlight:
        r = e.request
        assert r.side is not None
        q = view.quotes.get(r.ticker)
        day = view.day_quotes.get(r.ticker)
        if r.order_type is OrderType.LIMIT:
            price = r.price
        elif q is not None:
            price = worst_price(r.side, r.order_type, 0, q)
        elif day is not None:
            price = day.upper
        else:
            # No quote for a market order in flight: the broker's last price plus the
            # widest daily move, so the reservation errs high.
            held = view.balance.position(r.ticker)
            price = (held.current_price if held else 0) * 13 // 10
        return InFlight(r.request_id, r.side, r.ticker, qty, price)

    async def _check(self, request: OrderRequest, view: _View) -> list[Refusal]:
        quote = view.quotes.get(request.ticker)
        if quote is None:
            why = view.failed.get(request.ticker, "no quote")
            # A ticker Quartz does not trade is bad input; a listed one without a quote is not.
            if not self.listed(request.ticker):
                return [Refusal(PretradeRule.LISTING, f"listing: {request.ticker} is not in "
                                f"the universe Quartz trades ({why})")]
            return [Refusal(PretradeRule.QUOTE, f"quote: no quote for {request.ticker} "
                            f"({why})")]
        account = await asyncio.to_thread(self.account_state, view, request.request_id)
        facts = MarketFacts(quote=quote, listed=self.listed(request.ticker),
                            window=check_order_window(self._now(), self.calendar))
        return check_order(request, account, facts, self.limits)

    def _refuse(self, request: OrderRequest, refusals: list[Refusal]) -> OrderOutcome:
        message = "refused by the owner: " + "; ".join(str(r) for r in refusals)
        # The caller reports the refusal and the ledger records it: not a warning.
        log.info("order %s %s", request.request_id, message)
        now = self._now()
        entry, _ = self.ledger.claim(request, self.agent.env, now)
        if entry.state is S.RECEIVED and entry.attempts == 0:
            try:
                entry = self.ledger.move(request.request_id, S.RECEIVED, S.REJECTED, now,
                                         note="refused by the owner", code=refusals[0].code,
                                         message=message)
            except LedgerError as exc:
                log.info("refusal of %s not recorded: %s", request.request_id, exc)
        return entry.outcome()
