"""The trading agent hears its fills in real time: the broker's order notices move the ledger
as they arrive, and every (re)subscription is followed by one reconciliation with the order
inquiry, since the broker does not replay the notices missed while disconnected.

The rules:
1. A fill notice adds its quantity to the request that owns the broker's order number, with
   the average fill price weighted by quantity, through the ledger's compare-and-set `move`;
   the request becomes `filled` when the whole quantity has traded. The count never exceeds
   the order's quantity.
2. A notice may arrive before the broker's answer to the order itself (the fill is booked
   before the answer is sent): it waits, in arrival order, until the ledger knows the order
   number, for at most `park_s`; after that the order inquiry finds the fill.
3. After every (re)subscription the agent's `refresh()` sets each open request's fills from
   the order inquiry. A notice that arrived before that inquiry's answer was read is dropped:
   its fill is in the inquiry, or (at worst) is counted by the next one; counting it again
   could report a fill that never happened.
4. A refusal notice for a booked order ends it `cancelled` (the ledger has no way back to
   `rejected` once the broker booked an order), with the refusal in its message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from quartz_cli.agents.trading import TradingAgent
from quartz_cli.domain.notices import NoticeKind, OrderNotice
from quartz_cli.domain.orders import OrderState
from quartz_cli.errors import QuartzError
from quartz_cli.ports import LedgerEntry, LedgerError, NoticeStream

log = logging.getLogger(__name__)
S = OrderState
_OPEN = (S.ACCEPTED, S.RECONCILED)
# Waits between looks for the order number of a notice that came before its order's answer.
# The answer usually lands within milliseconds of the notice, so look often at first.
_PARK_WAITS_S = (*(0.001,) * 20, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass
class NoticeCounts:
    """What the listener did, for readiness, tests and the benchmark."""

    fills: int = 0
    acks: int = 0
    rejects: int = 0
    cancels: int = 0
    dropped_covered: int = 0
    unmatched: int = 0
    reconciliations: int = 0


class FillNotices:
    """Feeds the broker's order notices (a `NoticeStream`) into the trading agent's ledger."""

    def __init__(self, agent: TradingAgent, stream: NoticeStream, *, park_s: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.agent = agent
        self.stream = stream
        self.park_s = park_s
        self._monotonic = monotonic
        self._parked: dict[str, list[OrderNotice]] = {}
        self._waiters: set[asyncio.Task[None]] = set()
        self._covered_until = 0.0
        self.counts = NoticeCounts()
        # (request_id, notice, monotonic time the ledger took it) of the latest fill notices.
        self.applied: deque[tuple[str, OrderNotice, float]] = deque(maxlen=1000)

    async def run(self) -> None:
        """Consume notices until cancelled (or the stream stops on a layout it does not
        know, which is raised)."""
        try:
            await self.stream.run(self.on_notice, self.on_connected)
        finally:
            for task in self._waiters:
                task.cancel()

    async def on_connected(self) -> None:
        """After each (re)subscription: one reconciliation with the order inquiry."""
        try:
            await self.agent.refresh()
        except QuartzError as exc:
            log.warning("reconciliation after the notice subscription failed: %s", exc.message)
            return
        finally:
            self.counts.reconciliations += 1
        # Notices that arrived before the inquiry's answer was read are in it (rule 3).
        self._covered_until = self._monotonic()

    async def on_notice(self, notice: OrderNotice) -> None:
        """Apply one notice (called in arrival order)."""
        if notice.received_at and notice.received_at < self._covered_until:
            self.counts.dropped_covered += 1
            return
        if notice.kind is NoticeKind.ACK:
            self.counts.acks += 1
            return
        if notice.kind is NoticeKind.CANCELLED:
            # A cancel Quartz sent is recorded from the broker's answer to it.
            self.counts.cancels += 1
            return
        parked = self._parked.get(notice.order_no)
        if parked is not None:
            parked.append(notice)
            return
        entry = await asyncio.to_thread(self.agent.ledger.by_order_no, notice.order_no)
        if entry is None:
            self._parked[notice.order_no] = [notice]
            task = asyncio.create_task(self._await_order(notice.order_no))
            self._waiters.add(task)
            task.add_done_callback(self._waiters.discard)
            return
        await self._apply(entry, notice)

    async def _await_order(self, order_no: str) -> None:
        """Rule 2: apply the parked notices once the ledger knows `order_no`."""
        deadline = self._monotonic() + self.park_s
        step = 0
        while True:
            entry = await asyncio.to_thread(self.agent.ledger.by_order_no, order_no)
            if entry is not None and entry.state not in (S.SENT, S.RECEIVED):
                break
            if self._monotonic() >= deadline:
                dropped = self._parked.pop(order_no, [])
                self.counts.unmatched += len(dropped)
                log.info("%d order notices for an order this ledger does not know; the order "
                         "inquiry accounts for it", len(dropped))
                return
            await asyncio.sleep(_PARK_WAITS_S[min(step, len(_PARK_WAITS_S) - 1)])
            step += 1
        for notice in self._parked.pop(order_no, []):
            await self._apply_latest(order_no, notice)

    async def _apply_latest(self, order_no: str, notice: OrderNotice) -> None:
        entry = await asyncio.to_thread(self.agent.ledger.by_order_no, order_no)
        if entry is not None:
            await self._apply(entry, notice)

    async def _apply(self, entry: LedgerEntry, notice: OrderNotice) -> None:
        for _ in range(5):
            if entry.state not in _OPEN or entry.request.is_cancel:
                return
            try:
                if notice.kind is NoticeKind.FILL:
                    entry = await self._fill(entry, notice)
                    self.counts.fills += 1
                    self.applied.append((entry.request.request_id, notice, self._monotonic()))
                else:
                    await self._refused(entry, notice)
                    self.counts.rejects += 1
                return
            except LedgerError:
                # The request moved meanwhile (a refresh, a cancel): apply to where it is now.
                current = await asyncio.to_thread(self.agent.ledger.get,
                                                  entry.request.request_id)
                if current is None:
                    return
                entry = current
        log.warning("a fill notice for %s could not be applied; the order inquiry will",
                    entry.request.request_id)

    async def _fill(self, entry: LedgerEntry, notice: OrderNotice) -> LedgerEntry:
        qty = entry.request.qty
        before = entry.filled_qty
        added = min(notice.qty, qty - before)
        if added <= 0:
            return entry
        cost = (entry.avg_fill_price or 0) * before + notice.price * added
        filled = before + added
        to = S.FILLED if filled >= qty else entry.state
        return await asyncio.to_thread(
            self.agent.ledger.move, entry.request.request_id, entry.state, to,
            self.agent.market_now(), note=f"fill notice: {added} at {notice.price}",
            filled_qty=filled, avg_fill_price=round(cost / filled))

    async def _refused(self, entry: LedgerEntry, notice: OrderNotice) -> None:
        await asyncio.to_thread(
            self.agent.ledger.move, entry.request.request_id, entry.state, S.CANCELLED,
            self.agent.market_now(), note="refusal notice",
            message=f"refused by the broker after booking (order {notice.order_no}); "
            f"{entry.filled_qty} of {entry.request.qty} filled before")
