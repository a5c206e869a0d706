"""Client-side throttle that keeps a process under its share of the account's REST limit."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

# Requests leave the client a little before the server sees them; a small margin on the window
# keeps jitter from landing N+1 calls in one of the server's seconds.
WINDOW_MARGIN_S = 0.05
# Calls are at least half the average spacing apart: no bursts that queue at the server (the
# queue is the jitter the margin must absorb), yet a late call can still catch up.
MIN_SPACING_FRACTION = 0.5


class RateLimiter:
    """At most `capacity` calls in any sliding window of `window` seconds, and never two
    calls closer than half the average spacing.

    `per_second` is the account's limit and `share` this process's part of it, so that jobs
    that run in the same minute (say decide and rebalance with share 0.5 each) stay under the
    account's limit together."""

    def __init__(self, per_second: float, share: float = 1.0) -> None:
        rate = per_second * share
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1, math.floor(rate))
        self.window = max(1.0, self.capacity / rate) + WINDOW_MARGIN_S
        self.min_spacing = MIN_SPACING_FRACTION * self.window / self.capacity
        self._sent: deque[float] = deque()
        self._lock: asyncio.Lock | None = None
        self.waited_s = 0.0

    async def acquire(self) -> None:
        """Wait until one more call fits, then record it."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                delay = 0.0
                if len(self._sent) >= self.capacity:
                    delay = self.window - (now - self._sent[0])
                if self._sent:
                    delay = max(delay, self.min_spacing - (now - self._sent[-1]))
                if delay <= 0:
                    self._sent.append(now)
                    return
                self.waited_s += delay
                await asyncio.sleep(delay)

    async def back_off(self) -> None:
        """After the server said EGW00201: treat the current window as full."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            now = time.monotonic()
            self._sent.clear()
            self._sent.extend([now] * self.capacity)
