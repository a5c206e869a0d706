"""Client-side throttle that keeps an account under its REST limit, in one process or in
every process of a host that shares the account's budget file.

KIS counts calls when they reach its gateway, which the client cannot see. So a call holds
its slot from the moment it is allowed to leave until its answer is back (the gateway saw it
somewhere in between), and only then starts its window: however late a call arrives, two
calls can never land in the same second of the server's count more often than the limit.
"""

from __future__ import annotations

import asyncio
import fcntl
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from quartz_cli.config import Account
from quartz_cli.domain.account_id import account_key

# A small margin on the window absorbs the clock's granularity between processes.
WINDOW_MARGIN_S = 0.05
# Calls are at least half the average spacing apart: no bursts that queue at the server, yet
# a late call can still catch up.
MIN_SPACING_FRACTION = 0.5
# A call still "in flight" after this long belongs to a process that died mid-call: its slot
# is freed as if it had been answered then (the HTTP timeout is far shorter).
MAX_IN_FLIGHT_S = 120.0
# How often a caller looks again while every slot is held by calls still in flight.
IN_FLIGHT_POLL_S = 0.02
# The span over which `RateLimiter.use` reports this process's calls.
USE_SPAN_S = 60.0

T = TypeVar("T")


@dataclass
class Slot:
    """One call: when it left, and when its answer came back (None while in flight)."""

    id: str
    start: float
    end: float | None = None


class Book(Protocol):
    """Where the recent calls are kept: this process's memory, or a file shared by the
    processes of a host. `transact` runs `fn` on the slots under the book's lock and keeps
    what it leaves in the list."""

    def transact(self, fn: Callable[[list[Slot]], T]) -> T: ...

    def close(self) -> None: ...


class MemoryBook:
    """The calls of this process only."""

    def __init__(self) -> None:
        self._slots: list[Slot] = []
        self._lock = threading.Lock()

    def transact(self, fn: Callable[[list[Slot]], T]) -> T:
        with self._lock:
            return fn(self._slots)

    def close(self) -> None:
        """Nothing to release."""


class FileBook:
    """The calls of every process that opens the same file, under an exclusive `flock`.
    One line per call: `id start end` (`-` while in flight), monotonic seconds (one clock for
    the whole host on Linux). Unreadable lines are dropped, so a torn write costs a slot's
    accuracy, never a deadlock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._lock = threading.Lock()

    def _open(self) -> int:
        if self._fd < 0:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def close(self) -> None:
        """Release the file (a later call opens it again)."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __del__(self) -> None:
        self.close()

    def _read(self) -> list[Slot]:
        os.lseek(self._fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(self._fd, 65536):
            chunks.append(chunk)
        slots = []
        for line in b"".join(chunks).decode("ascii", "replace").splitlines():
            parts = line.split()
            if len(parts) != 3:
                continue
            try:
                slots.append(Slot(parts[0], float(parts[1]),
                                  None if parts[2] == "-" else float(parts[2])))
            except ValueError:
                continue
        return slots

    def _write(self, slots: list[Slot]) -> None:
        text = "".join(f"{s.id} {s.start:.6f} {'-' if s.end is None else f'{s.end:.6f}'}\n"
                       for s in slots).encode()
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, text)

    def transact(self, fn: Callable[[list[Slot]], T]) -> T:
        with self._lock:
            self._open()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                slots = self._read()
                result = fn(slots)
                self._write(slots)
                return result
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


def account_tag(env: str, account: Account, key: str) -> str:
    """The account's name in the budget file's name: its keyed hash
    (`domain.account_id.account_key`, keyed with the app secret), never its number."""
    return account_key(env, account.cano, account.product, key)


def budget_path(home: Path, env: str, tag: str) -> Path:
    """The budget file of one account on this host: `$QUARTZ_HOME/cache/ratelimit/`."""
    return home / "cache" / "ratelimit" / f"{env}-{tag}.budget"


class RateLimiter:
    """At most `capacity` calls in any sliding window of `window` seconds, counting a call
    until its answer is back, and never two calls closer than half the average spacing.

    `per_second` is the account's limit and `share` this process's part of it. With a
    `FileBook` every process of the host shares one budget (use `share` 1.0 then)."""

    def __init__(self, per_second: float, share: float = 1.0, *,
                 book: Book | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        rate = per_second * share
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1, math.floor(rate))
        self.window = max(1.0, self.capacity / rate) + WINDOW_MARGIN_S
        self.min_spacing = MIN_SPACING_FRACTION * self.window / self.capacity
        self.book: Book = book or MemoryBook()
        self._clock = clock
        self._lock: asyncio.Lock | None = None
        self._prefix = f"{os.getpid()}.{secrets.token_hex(3)}"
        self._seq = 0
        self.waited_s = 0.0
        self.per_second = per_second
        self._sent: deque[float] = deque()

    def _prune(self, slots: list[Slot], now: float) -> None:
        """Drop calls whose window is over; free the slots of callers that died mid-call
        and of stamps from before a reboot (in the clock's future)."""
        keep = []
        for s in slots:
            if s.start > now + 1.0:
                continue
            if s.end is None and now - s.start > MAX_IN_FLIGHT_S:
                s.end = s.start + MAX_IN_FLIGHT_S
            if s.end is not None and now - s.end >= self.window:
                continue
            keep.append(s)
        slots[:] = keep

    def _take(self, slots: list[Slot]) -> tuple[str | None, float]:
        """Take a slot if one is free now: (its id, 0), else (None, seconds to wait)."""
        now = self._clock()
        self._prune(slots, now)
        delay = 0.0
        if len(slots) >= self.capacity:
            answered = [s.end for s in slots if s.end is not None]
            delay = (min(answered) + self.window - now) if answered else IN_FLIGHT_POLL_S
        if slots:
            delay = max(delay, self.min_spacing - (now - max(s.start for s in slots)))
        if delay > 0:
            return None, delay
        self._seq += 1
        slot_id = f"{self._prefix}.{self._seq}"
        slots.append(Slot(slot_id, now))
        return slot_id, 0.0

    async def acquire(self) -> str:
        """Wait until one more call fits, record it as in flight, and return its id for
        `release`."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            while True:
                slot_id, delay = self.book.transact(self._take)
                if slot_id is not None:
                    self._sent.append(self._clock())
                    return slot_id
                self.waited_s += delay
                await asyncio.sleep(delay)

    def use(self) -> dict[str, float | int]:
        """How much of the account's limit this process used over the last `USE_SPAN_S`
        seconds: its calls, their rate and that rate's share of the limit."""
        now = self._clock()
        while self._sent and now - self._sent[0] > USE_SPAN_S:
            self._sent.popleft()
        rate = len(self._sent) / USE_SPAN_S
        return {"span_s": USE_SPAN_S, "calls": len(self._sent), "per_second": round(rate, 2),
                "limit_per_s": self.per_second, "use": round(rate / self.per_second, 3)}

    def release(self, slot_id: str) -> None:
        """The call's answer is back (or it failed): its window starts now."""
        now = self._clock()

        def done(slots: list[Slot]) -> None:
            for s in slots:
                if s.id == slot_id and s.end is None:
                    s.end = now

        self.book.transact(done)

    async def back_off(self) -> None:
        """After the server said EGW00201: treat the current window as full, for every
        process that shares the budget."""
        now = self._clock()

        def fill(slots: list[Slot]) -> None:
            self._prune(slots, now)
            slots.extend(Slot(f"{self._prefix}.b{i}", now, now)
                         for i in range(self.capacity))

        self.book.transact(fill)

    def close(self) -> None:
        """Release the budget's file, if any."""
        self.book.close()
