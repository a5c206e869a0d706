"""The account owner: the one place an account's orders pass on their way to the broker.

`AccountOwner` implements the `OrderExecutor` port around the `TradingAgent` (the
per-request state machine and its ledger). For each new buy or sell it, under one lock per
account:

1. builds the account as it will be when everything in flight fills at the worst case:
   the broker's cash and holdings (`Broker.balance`, read fresh for each order, after the
   ledger caught up with the broker's fills), the ledger's in-flight requests, today's
   fills, the start-of-day value and the trading state;
2. runs the pre-trade stage (`domain.pretrade.check_order`);
3. records a refusal in the ledger (state `rejected`, code `pretrade:<rule>`; the broker
   never sees it) or hands the order to the trading agent, still under the lock, so the
   next order's check sees this one in flight.

Cancels, and request_ids the ledger already knows, go straight to the trading agent (a
cancel only reduces exposure; a known request returns its stored outcome). The daily loss
limit moves the account to reduce-only by itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from quartz_cli.agents.trading import TradingAgent
from quartz_cli.domain.account import Balance
from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.decision import Quote
from quartz_cli.domain.krx import KST
from quartz_cli.domain.order_window import check_order_window
from quartz_cli.domain.orders import OpenOrder, OrderOutcome, OrderRequest, OrderState, OrderType
from quartz_cli.domain.pretrade import (
    AccountState,
    HeldPosition,
    InFlight,
    Limits,
    MarketFacts,
    PretradeRule,
    Refusal,
    TradingState,
    check_order,
    daily_loss_breached,
    worst_price,
)
from quartz_cli.errors import BrokerError
from quartz_cli.ports import (
    AccountStateStore,
    LedgerEntry,
    LedgerError,
    MarketData,
    OrderLedger,
    TradingStatus,
)

log = logging.getLogger(__name__)

S = OrderState
# A request in one of these states may still (partly) fill at the broker.
IN_FLIGHT_STATES = (S.SENT, S.UNKNOWN, S.ACCEPTED, S.RECONCILED, S.RECEIVED)
# States whose fills (if any) count in today's turnover.
TRADED_STATES = (S.ACCEPTED, S.RECONCILED, S.FILLED, S.CANCELLED)


def _entry_day(entry: LedgerEntry) -> date:
    if entry.order_date:
        d = entry.order_date
        return date(int(d[:4]), int(d[4:6]), int(d[6:8]))
    return entry.updated_at.astimezone(KST).date()


def ledger_in_flight(ledger: OrderLedger, today: date, *,
                     exclude: str = "") -> list[LedgerEntry]:
    """Today's buy and sell requests that may still fill: sent, unknown (counted whole until
    reconciled), booked with a remainder, or received and already attempted. Orders are day
    orders at KRX, so earlier days' requests are no longer live. (The one place in-flight is
    derived from the ledger, so a ledger query can replace it.)"""
    out = []
    for e in ledger.in_states(*IN_FLIGHT_STATES):
        r = e.request
        if r.is_cancel or r.request_id == exclude or _entry_day(e) != today:
            continue
        if e.state is S.RECEIVED and e.attempts == 0:
            continue
        if r.qty - e.filled_qty > 0:
            out.append(e)
    return out


def ledger_filled_today(ledger: OrderLedger, today: date) -> int:
    """Won traded today by fills the ledger knows of (filled quantity × average price)."""
    return sum(e.filled_qty * (e.avg_fill_price or e.request.price)
               for e in ledger.in_states(*TRADED_STATES)
               if not e.request.is_cancel and e.filled_qty and _entry_day(e) == today)


class AccountOwner:
    """The `OrderExecutor` of one account: pre-trade risk, trading state and one lock around
    check and hand-off. See the module docstring."""

    def __init__(self, agent: TradingAgent, *, market: MarketData, states: AccountStateStore,
                 calendar: KrxCalendar, limits: Limits, listed: Callable[[str], bool],
                 daily_loss_limit_pct: Decimal) -> None:
        self.agent = agent
        self.market = market
        self.states = states
        self.calendar = calendar
        self.limits = limits
        self.listed = listed
        self.daily_loss_limit_pct = daily_loss_limit_pct
        self._lock = asyncio.Lock()

    @property
    def ledger(self) -> OrderLedger:
        return self.agent.ledger

    def _now(self) -> datetime:
        return self.agent.market_now()

    # --- OrderExecutor ----------------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> OrderOutcome:
        """Check `request` against the account and send it, or record why not."""
        if request.is_cancel or not self.agent.live_trading_allowed:
            return await self.agent.submit(request)
        async with self._lock:
            known = self.ledger.get(request.request_id)
            if known is not None and not (known.state is S.RECEIVED and known.attempts == 0):
                return await self.agent.submit(request)
            refusals = await self._check(request)
            if refusals:
                return self._refuse(request, refusals)
            return await self.agent.submit(request)

    async def outcome(self, request_id: str) -> OrderOutcome | None:
        return await self.agent.outcome(request_id)

    async def refresh(self) -> None:
        await self.agent.refresh()

    async def cancelable_orders(self) -> list[OpenOrder]:
        return await self.agent.cancelable_orders()

    # --- what the servers and the CLI also ask ----------------------------------------------

    async def balance(self) -> Balance:
        return await self.agent.balance()

    def orders(self, *, limit: int = 200) -> list[OrderOutcome]:
        return self.agent.orders(limit=limit)

    async def recover(self) -> int:
        return await self.agent.recover()

    def trading_status(self) -> TradingStatus:
        return self.states.trading_status()

    def set_trading_state(self, state: TradingState, reason: str) -> TradingStatus:
        """Set the trading state (kept across restarts)."""
        log.warning("trading state → %s (%s)", state.value, reason or "no reason given")
        return self.states.set_trading_state(state, reason, self._now())

    # --- the check --------------------------------------------------------------------------

    async def account_state(self, tickers: list[str]) -> tuple[AccountState, dict[str, Quote],
                                                                dict[str, str]]:
        """The account before one more order, with quotes of `tickers` and of every market
        order in flight (and the tickers whose quote failed, with why)."""
        now = self._now()
        today = now.astimezone(KST).date()
        flying = ledger_in_flight(self.ledger, today)
        if any(e.state in (S.ACCEPTED, S.RECONCILED) for e in flying):
            # Fills the broker booked must not count twice: once in the balance and once
            # in flight. The ledger is read again after the refresh, and before the balance,
            # so a fill landing in between counts twice (safe) but never zero times.
            try:
                await self.agent.refresh()
            except BrokerError as exc:
                log.info("fills not refreshed before a check: %s", exc.message)
            flying = ledger_in_flight(self.ledger, today)
        filled = ledger_filled_today(self.ledger, today)
        balance = await self.agent.balance()
        wanted = list(dict.fromkeys(tickers + [e.request.ticker for e in flying
                                               if e.request.order_type is OrderType.MARKET]))
        quotes, failed = await self.market.quotes(wanted) if wanted else ({}, {})
        positions = tuple(HeldPosition(p.ticker, p.qty, quotes[p.ticker].price
                                       if p.ticker in quotes else p.current_price)
                          for p in balance.positions if p.qty > 0)
        in_flight = tuple(self._in_flight(e, quotes, balance) for e in flying)
        status = self.states.trading_status()
        total = balance.cash_krw + sum(p.qty * p.price for p in positions)
        trading_day = self.calendar.is_trading_day(today)
        sod = self.states.start_of_day(today, total, now) if trading_day else total
        state = status.state
        if state is TradingState.ACTIVE and trading_day:
            breach = daily_loss_breached(total, sod, self.daily_loss_limit_pct)
            if breach is not None and self.states.first_loss_trip(today, now):
                state = self.set_trading_state(TradingState.REDUCE_ONLY, breach).state
        account = AccountState(cash_krw=balance.cash_krw, positions=positions,
                               in_flight=in_flight, start_of_day_value=sod,
                               filled_today_krw=filled, trading_state=state)
        return account, quotes, failed

    @staticmethod
    def _in_flight(e: LedgerEntry, quotes: dict[str, Quote], balance: Balance) -> InFlight:
        r = e.request
        assert r.side is not None
        q = quotes.get(r.ticker)
        if r.order_type is OrderType.LIMIT:
            price = r.price
        elif q is not None:
            price = worst_price(r.side, r.order_type, 0, q)
        else:
            # No quote for a market order in flight: the broker's last price plus the
            # widest daily move, so the reservation errs high.
            held = balance.position(r.ticker)
            price = (held.current_price if held else 0) * 13 // 10
        return InFlight(r.request_id, r.side, r.ticker, r.qty - e.filled_qty, price)

    async def _check(self, request: OrderRequest) -> list[Refusal]:
        account, quotes, failed = await self.account_state([request.ticker])
        quote = quotes.get(request.ticker)
        if quote is None:
            why = failed.get(request.ticker, "no quote")
            return [Refusal(PretradeRule.LISTING, f"listing: no quote for {request.ticker} "
                            f"({why})")]
        facts = MarketFacts(quote=quote, listed=self.listed(request.ticker),
                            window=check_order_window(self._now(), self.calendar))
        return check_order(request, account, facts, self.limits)

    def _refuse(self, request: OrderRequest, refusals: list[Refusal]) -> OrderOutcome:
        message = "refused by the owner: " + "; ".join(str(r) for r in refusals)
        log.warning("order %s %s", request.request_id, message)
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
