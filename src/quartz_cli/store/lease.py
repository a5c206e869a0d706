"""The account's lease (the `AccountLease` port): one owner per account, each acquisition with
a larger fencing epoch that the order ledger records (a writer whose lease was taken over is
refused there).

- `HostLease`, on one host: an exclusive `flock` on `<dir>/<account>.lock`, held for the
  owner's lifetime (the kernel drops it when the process dies, even on SIGKILL), and a holder
  record `<dir>/<account>.json` (kind, pid, host, since, a server's URL, the epoch).
- `StoreLease`, in a cluster: one object per epoch in the shared store,
  `owners/<account>/<epoch>.json`, created by put-if-absent so exactly one contender wins each
  epoch (S3 conditional writes). The holder renews its object's expiry; a contender takes the
  next epoch only once the latest one expired or was released. One key per epoch, not one
  key per account: with put-if-absent as the only atomic write, "delete the expired record,
  then create mine" would let two contenders both win.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from quartz_cli.errors import ConfigError, StoreError, local_state_error
from quartz_cli.ports import LeaseHeld, LeaseHolder, LeaseKind, LeaseLost, Store


def private_dir(path: Path) -> Path:
    """Create `path` (0700) if needed and refuse it unless it belongs to this user and no
    one else may write it: the lock, the holder record, the ledger and the internal token
    live there, and whoever can write it can impersonate the owner."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise local_state_error(path, "the trading folder", exc,
                                fix="make QUARTZ_HOME writable by this user and free some "
                                "space (it holds the account's lock and order ledger)") from None
    st = path.stat()
    if st.st_uid != os.getuid():
        raise ConfigError(f"{path} belongs to another user (uid {st.st_uid})",
                          hint="Quartz keeps its lock, ledger and token there: use a "
                          "QUARTZ_HOME of your own")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(f"{path} is writable by its group or by others "
                          f"(mode {stat.S_IMODE(st.st_mode):o})",
                          hint=f"chmod 700 {path}")
    return path


def holder_document(holder: LeaseHolder, **extra: Any) -> bytes:
    """The holder record as JSON (no account data in it)."""
    return json.dumps({"kind": holder.kind.value, "pid": holder.pid, "host": holder.host,
                       "started_at": holder.started_at.astimezone(UTC).isoformat(),
                       "url": holder.url, "epoch": holder.epoch, **extra}).encode()


def parse_holder(raw: bytes | None) -> tuple[LeaseHolder, dict[str, Any]] | None:
    """A holder record and the whole document; None when absent or unreadable."""
    if not raw:
        return None
    try:
        doc = json.loads(raw)
        holder = LeaseHolder(kind=LeaseKind(doc["kind"]), pid=int(doc["pid"]),
                             host=str(doc["host"]),
                             started_at=datetime.fromisoformat(doc["started_at"]),
                             url=doc.get("url"), epoch=int(doc.get("epoch", 0)))
    except (ValueError, KeyError, TypeError):
        return None
    return holder, doc


class HostLease:
    """The `AccountLease` on one host (see the module docstring)."""

    def __init__(self, directory: Path, account: str) -> None:
        self.account = account
        self.directory = directory
        self.lock_path = directory / f"{account}.lock"
        self.record_path = directory / f"{account}.json"
        self._fd: int | None = None

    def _record(self) -> LeaseHolder | None:
        try:
            parsed = parse_holder(self.record_path.read_bytes())
        except FileNotFoundError:
            return None
        return parsed[0] if parsed else None

    def _write_record(self, holder: LeaseHolder, **extra: Any) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(holder_document(holder, **extra))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.record_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def acquire(self, holder: LeaseHolder) -> LeaseHolder:
        if self._fd is not None:
            raise LeaseHeld(self._record(), self.account, hint="this process holds it already")
        private_dir(self.directory)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LeaseHeld(self._record(), self.account) from None
        try:
            previous = self._record()
            mine = replace(holder, epoch=(previous.epoch if previous else 0) + 1)
            self._write_record(mine)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._mine = mine
        return mine

    def renew(self) -> None:
        # A flock cannot expire or be taken while this process keeps the descriptor open.
        if self._fd is None:
            raise LeaseLost(f"this process does not hold the lease of account {self.account}")

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # The record keeps the epoch for the next holder; `released_at` says it is free.
            self._write_record(self._mine, released_at=datetime.now(UTC).isoformat())
        finally:
            os.close(fd)


class StoreLease:
    """The `AccountLease` in the shared store (see the module docstring). `ttl_s` is how long
    a record stays valid without renewal: it must exceed the clock skew between pods by far,
    and the holder renews every `ttl_s / 3`."""

    PREFIX = "owners"

    def __init__(self, store: Store, account: str, *, ttl_s: float = 30.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.account = account
        self.store = store
        self.ttl = timedelta(seconds=ttl_s)
        self.clock = clock
        self._mine: LeaseHolder | None = None

    def _key(self, epoch: int) -> str:
        # Zero-padded so the store's sorted listing puts the latest epoch last.
        return f"{self.PREFIX}/{self.account}/{epoch:012d}.json"

    def _epochs(self) -> list[int]:
        out = []
        for key in self.store.list(f"{self.PREFIX}/{self.account}/"):
            name = key.rsplit("/", 1)[-1].removesuffix(".json")
            if name.isdigit():
                out.append(int(name))
        return sorted(out)

    def _latest(self) -> tuple[int, LeaseHolder | None, datetime | None]:
        """(latest epoch, its holder, when it expires); (0, None, None) when never taken."""
        epochs = self._epochs()
        if not epochs:
            return 0, None, None
        epoch = epochs[-1]
        parsed = parse_holder(self.store.get(self._key(epoch)))
        if parsed is None:
            raise StoreError(f"the lease record {self._key(epoch)} in {self.store.description} "
                             "is unreadable", hint="delete it once no trading agent runs")
        holder, doc = parsed
        return epoch, holder, datetime.fromisoformat(doc["expires_at"])

    def _document(self, holder: LeaseHolder, expires_at: datetime, **extra: Any) -> bytes:
        return holder_document(holder, expires_at=expires_at.astimezone(UTC).isoformat(),
                               **extra)

    def acquire(self, holder: LeaseHolder) -> LeaseHolder:
        if self._mine is not None:
            raise LeaseHeld(self._mine, self.account, hint="this process holds it already")
        epoch, current, expires_at = self._latest()
        if current is not None and expires_at is not None and expires_at > self.clock():
            raise LeaseHeld(current, self.account,
                            hint=f"a lease not renewed expires {self.ttl.total_seconds():.0f} "
                            "s after its last renewal")
        mine = replace(holder, epoch=epoch + 1)
        if not self.store.put_if_absent(self._key(mine.epoch),
                                        self._document(mine, self.clock() + self.ttl)):
            # Another contender took this epoch first.
            _, winner, _ = self._latest()
            raise LeaseHeld(winner, self.account)
        self._mine = mine
        for old in self._epochs():
            # The previous epoch's record stays as the evidence of the takeover.
            if old < mine.epoch - 1:
                self.store.delete(self._key(old))
        return mine

    def renew(self) -> None:
        mine = self._mine
        if mine is None:
            raise LeaseLost(f"this process does not hold the lease of account {self.account}")
        epoch, current, _ = self._latest()
        if epoch != mine.epoch:
            self._mine = None
            who = current.describe() if current else "another owner"
            raise LeaseLost(f"the lease of account {self.account} was taken over by {who} "
                            f"(epoch {epoch}, this process held {mine.epoch})")
        self.store.put(self._key(mine.epoch), self._document(mine, self.clock() + self.ttl))

    def release(self) -> None:
        mine, self._mine = self._mine, None
        if mine is None:
            return
        epoch, _, _ = self._latest()
        if epoch == mine.epoch:
            now = self.clock()
            self.store.put(self._key(mine.epoch),
                           self._document(mine, now, released_at=now.isoformat()))
