"""The notifier: delivers the account's events to its notification channels, in order,
each channel at its own pace.

Each channel keeps the last sequence it is done with (the event log's `notify_cursor`):
- first start: the cursor is set to the newest event, so history is never replayed;
- an event the channel does not want (or has no message for) moves the cursor past it;
- a failed delivery leaves the cursor where it is: the same event is tried again after a
  back-off (1, 2, 5, 10, 30, 60 s, or what the endpoint asked for), so nothing is lost while
  an endpoint is down and nothing is sent twice after a restart;
- a channel more than `backlog_limit` events behind skips the oldest ones and first sends a
  message saying which it skipped;
- the archive route (the store's copy of the log) gets every event from the first, with no
  backlog limit.
A fill reaches a channel only as the ledger's `order.filled` / `order.partially_filled`
events, written when the broker reported the fill (`domain.notifications`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from quartz_cli.domain.events import Event
from quartz_cli.domain.notifications import render, skipped_message, wanted
from quartz_cli.errors import QuartzError
from quartz_cli.metrics import metrics
from quartz_cli.ports import EventReader, NotificationChannel, NotificationFailed

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
BATCH = 100


@dataclass
class Route:
    """One channel with the event types it wants and its language. An `archive` route gets
    every event (its text empty) from the first one on: the store's copy of the log."""

    channel: NotificationChannel
    selection: frozenset[str]
    lang: str = "ko"
    archive: bool = False
    failures: int = 0
    next_try: float = 0.0
    delivered: int = field(default=0)


class Notifier:
    """Delivers the event log to `routes`; `deliver()` does one pass, `run()` loops."""

    def __init__(self, events: EventReader, routes: Sequence[Route], *, backlog_limit: int = 200,
                 retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
                 clock: Callable[[], float] = time.monotonic, poll_s: float = 2.0) -> None:
        self.events = events
        self.routes = list(routes)
        self.backlog_limit = backlog_limit
        self.retry_delays_s = tuple(retry_delays_s)
        self.clock = clock
        self.poll_s = poll_s

    async def deliver(self) -> int:
        """One pass over every channel that is not backing off; how many messages went."""
        sent = 0
        for route in self.routes:
            if self.clock() >= route.next_try:
                sent += await self._deliver(route)
        return sent

    async def run(self, stop: asyncio.Event, poll_s: float | None = None) -> None:
        """Deliver until `stop` is set, reading the log every `poll_s` seconds (default: the
        notifier's own). A pass that fails on the store is logged and tried again."""
        while not stop.is_set():
            try:
                await self.deliver()
            except QuartzError as exc:
                log.warning("notifications: %s", exc.message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_s or self.poll_s)

    async def aclose(self) -> None:
        for route in self.routes:
            await route.channel.aclose()

    async def _deliver(self, route: Route) -> int:
        name = route.channel.name
        cursor = await asyncio.to_thread(self.events.cursor, name)
        if cursor is None and route.archive:
            cursor = 0
        elif cursor is None:
            # First start: begin after the newest event, never replay history.
            await asyncio.to_thread(self.events.set_cursor, name,
                                    await asyncio.to_thread(self.events.last_seq))
            return 0
        sent = 0
        last = await asyncio.to_thread(self.events.last_seq)
        if last - cursor > self.backlog_limit and not route.archive:
            skip_to = last - self.backlog_limit
            if not await self._send(route, skipped_message(route.lang, cursor + 1, skip_to),
                                    None):
                return sent
            log.warning("notifications: %s skipped events %d-%d (over the backlog limit of %d)",
                        name, cursor + 1, skip_to, self.backlog_limit)
            metrics().notifications.labels(name, "skipped").inc(skip_to - cursor)
            await asyncio.to_thread(self.events.set_cursor, name, skip_to)
            cursor, sent = skip_to, sent + 1
        while True:
            batch = await asyncio.to_thread(self.events.since, cursor, limit=BATCH)
            if not batch:
                return sent
            passed = cursor  # events passed over since the cursor was last written
            for event in batch:
                message = ("" if route.archive else render(event, route.lang)
                           if wanted(event, route.selection) else None)
                if message is not None:
                    if not await self._send(route, message, event):
                        if passed > cursor:
                            await asyncio.to_thread(self.events.set_cursor, name, passed)
                        return sent
                    sent += 1
                    if not route.archive:
                        # Written after each delivery: a restart never sends it again. The
                        # archive's writes are idempotent (put if absent): its cursor moves
                        # once per batch, or up to the last write that worked.
                        await asyncio.to_thread(self.events.set_cursor, name, event.seq)
                        cursor = event.seq
                passed = event.seq
            if passed > cursor:
                await asyncio.to_thread(self.events.set_cursor, name, passed)
                cursor = passed

    async def _send(self, route: Route, text: str, event: Event | None) -> bool:
        name = route.channel.name
        try:
            await route.channel.send(text, event)
        except NotificationFailed as exc:
            delay = self.retry_delays_s[min(route.failures, len(self.retry_delays_s) - 1)]
            if exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
            route.failures += 1
            route.next_try = self.clock() + delay
            metrics().notifications.labels(name, "failed").inc()
            log.warning("notifications: %s failed (%s); retrying in %.0f s", name, exc.message,
                        delay)
            return False
        route.failures, route.next_try = 0, 0.0
        route.delivered += 1
        metrics().notifications.labels(name, "sent").inc()
        return True
