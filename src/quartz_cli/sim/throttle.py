"""The simulator's per-app-key REST limit (a sliding one-second window)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class SlidingWindow:
    """Allows at most `per_second` calls per key in any one-second window; 0 means no limit."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._clock = clock
        self._calls: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        if self.per_second <= 0:
            return True
        now = self._clock()
        with self._lock:
            calls = self._calls[key]
            while calls and now - calls[0] >= 1.0:
                calls.popleft()
            if len(calls) >= self.per_second:
                return False
            calls.append(now)
            return True
