"""The shared store (S3) with this host's copy of what it last read or wrote, for the seed's
degraded mode: when S3 cannot be reached, reads are answered from the copy and marked as
such (readers treat them as stale), and writes are kept in the copy and in a pending folder,
replayed to S3 once it answers again, so nothing is lost.

Conditional writes (`put_if_absent`: request claims, leases) and deletes are never answered
by the copy: they decide who owns something, which only the shared store can say. A replay
never overwrites a newer object: a pending document goes up only when S3 has no object at
its key, or an older one (by the documents' `produced_at`)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from quartz_cli.errors import StoreError
from quartz_cli.ports import Store
from quartz_cli.store.base import check_key
from quartz_cli.store.local import LocalStore

log = logging.getLogger(__name__)
T = TypeVar("T")

# After a failure the shared store is not asked again for this long (each failed call costs
# boto3's retries); a long-running server then tries it again.
RETRY_AFTER_S = 30.0


def _produced_at(raw: bytes) -> datetime | None:
    try:
        value = json.loads(raw).get("produced_at")
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except (ValueError, AttributeError):
        return None


def _newer(mine: bytes, theirs: bytes) -> bool:
    """True when `mine` is a document produced after `theirs` (unknown: False)."""
    a, b = _produced_at(mine), _produced_at(theirs)
    return a is not None and b is not None and a > b


def _replay_order(key: str) -> tuple[bool, str]:
    # Dated documents before the `latest` pointers that name them.
    return key.rsplit("/", 1)[-1].startswith("latest"), key


class MirroredStore:
    """`primary` (the shared store) with `copy` (a local folder) and `pending` (writes not yet
    in `primary`). `unreachable` says why the copy is answering, None while `primary` works."""

    def __init__(self, primary: Store, copy: LocalStore, pending: LocalStore, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.primary = primary
        self.copy = copy
        self.pending = pending
        self.description = primary.description
        self.unreachable: str | None = None
        self._clock = clock
        self._retry_at = 0.0
        self._from_copy: set[str] = set()
        self._written_here: set[str] = set()
        self._replayed = False
        self._lock = threading.Lock()

    # --- the state of the shared store --------------------------------------------------------

    def _down(self) -> bool:
        return self.unreachable is not None and self._clock() < self._retry_at

    def _failed(self, exc: StoreError) -> None:
        with self._lock:
            if self.unreachable is None:
                log.warning("%s is unreachable (%s); using this host's copy in %s",
                            self.description, exc.message, self.copy.root)
            self.unreachable = exc.message
            self._retry_at = self._clock() + RETRY_AFTER_S

    def _answered(self) -> None:
        with self._lock:
            # Once per process (writes left by an earlier run), and after each outage.
            replay = self.unreachable is not None or not self._replayed
            if self.unreachable is not None:
                log.warning("%s answers again", self.description)
            self.unreachable = None
            self._replayed = True
        if replay:
            self.replay()

    def _primary(self, op: Callable[[], T]) -> T:
        """`op` on the shared store; StoreError (and the store marked unreachable) if it
        fails or was found unreachable moments ago."""
        if self._down():
            raise StoreError(f"{self.description} is unreachable: {self.unreachable}")
        try:
            result = op()
        except StoreError as exc:
            self._failed(exc)
            raise
        self._answered()
        return result

    def from_copy(self, key: str) -> bool:
        """True when `key` was last answered by the copy because the shared store could not
        be reached (and it was not written by this process meanwhile)."""
        return key in self._from_copy

    @property
    def stale_keys(self) -> list[str]:
        """Every key answered by the copy so far, sorted."""
        return sorted(self._from_copy)

    # --- the Store port -----------------------------------------------------------------------

    def _keep(self, key: str, data: bytes) -> None:
        """Refresh the copy; a copy that cannot be written only costs the degraded mode."""
        try:
            if self.copy.get(key) != data:
                self.copy.put(key, data)
        except StoreError as exc:
            log.warning("could not keep a local copy of %s: %s", key, exc.message)

    def get(self, key: str) -> bytes | None:
        check_key(key)
        try:
            data = self._primary(lambda: self.primary.get(key))
        except StoreError:
            data = self.copy.get(key)
            if key not in self._written_here:
                self._from_copy.add(key)
            return data
        self._from_copy.discard(key)
        if data is not None:
            self._keep(key, data)
        return data

    def put(self, key: str, data: bytes) -> None:
        check_key(key)
        try:
            self._primary(lambda: self.primary.put(key, data))
        except StoreError as exc:
            # Kept here and replayed later: the document is not lost with the connection.
            try:
                self.pending.put(key, data)
                self.copy.put(key, data)
            except StoreError:
                raise exc from None
            self._written_here.add(key)
            self._from_copy.discard(key)
            log.warning("%s kept in %s until %s answers", key, self.pending.root,
                        self.description)
            return
        self._keep(key, data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        created = self._primary(lambda: self.primary.put_if_absent(key, data))
        if created:
            self._keep(key, data)
        return created

    def delete(self, key: str) -> None:
        self._primary(lambda: self.primary.delete(key))
        self.copy.delete(key)

    def list(self, prefix: str) -> list[str]:
        try:
            return self._primary(lambda: self.primary.list(prefix))
        except StoreError:
            return self.copy.list(prefix)

    def ping(self) -> None:
        self._primary(self.primary.ping)

    # --- replay -------------------------------------------------------------------------------

    def replay(self) -> int:
        """Send the pending writes to the shared store, never over a newer object; returns
        how many went up. Stops (leaving the rest pending) when the store fails again."""
        sent = 0
        for key in sorted(self.pending.list(""), key=_replay_order):
            data = self.pending.get(key)
            if data is None:
                continue
            try:
                current = self.primary.get(key)
                if current is None:
                    self.primary.put_if_absent(key, data)
                    sent += 1
                elif _newer(data, current):
                    self.primary.put(key, data)
                    sent += 1
                else:
                    log.info("not replaying %s: %s holds a newer or equal one", key,
                             self.description)
            except StoreError as exc:
                self._failed(exc)
                break
            self.pending.delete(key)
        if sent:
            log.warning("replayed %d document(s) kept while %s was unreachable", sent,
                        self.description)
        return sent
