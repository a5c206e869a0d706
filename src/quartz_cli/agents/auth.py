"""The auth agent: one KIS access token per environment and app key, shared by every process
on a host (disk cache + file lock) and by every pod of a cluster (the store, encrypted, with a
put-if-absent lease), so that KIS issues as few tokens as possible.

Each issuance costs the user a KakaoTalk notification and KIS allows about one a minute, so
issuing is the last resort: memory → disk → store → issue.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from quartz_cli.domain.documents import utcnow
from quartz_cli.domain.events import EventType
from quartz_cli.errors import (
    BrokerError,
    LocalStateCorrupt,
    QuartzError,
    StoreError,
    TokenIssueThrottled,
    local_state_error,
)
from quartz_cli.ports import EventSink, IssuedToken, Store

log = logging.getLogger(__name__)
T = TypeVar("T")

# A damaged token cache holds nothing that cannot be issued again.
REPAIR_HINT = ("run `quartz auth refresh`: it sets the damaged cache aside and issues a new "
               "token (one KIS notification)")

REFRESH_AGE = timedelta(hours=23, minutes=55)
MIN_REMAINING = timedelta(minutes=5)
ISSUE_INTERVAL = timedelta(seconds=60)
LEASE_TTL = timedelta(seconds=90)
LOCK_TIMEOUT_S = 600.0
# Waits after a throttled issuance. KIS's text says one issuance a minute, an FAQ says one per five
# minutes (unconfirmed): together these outlast both without hammering the endpoint.
THROTTLE_WAITS_S = (61.0, 120.0, 180.0)


@dataclass(frozen=True)
class CachedToken:
    """A token with the times that decide when to refresh it."""

    access_token: str
    issued_at: datetime
    expires_at: datetime

    def fresh(self, now: datetime) -> bool:
        """Usable: younger than 23h55m and more than 5 minutes before expiry."""
        return now - self.issued_at < REFRESH_AGE and self.expires_at - now > MIN_REMAINING

    def to_json(self) -> str:
        return json.dumps({"access_token": self.access_token,
                           "issued_at": self.issued_at.isoformat(),
                           "expires_at": self.expires_at.isoformat()})

    @classmethod
    def from_json(cls, raw: str | bytes) -> CachedToken:
        d = json.loads(raw)
        return cls(d["access_token"], datetime.fromisoformat(d["issued_at"]),
                   datetime.fromisoformat(d["expires_at"]))

    @classmethod
    def from_issued(cls, t: IssuedToken) -> CachedToken:
        return cls(t.access_token, t.issued_at, t.expires_at)


@dataclass(frozen=True)
class TokenStatus:
    """What `quartz auth status` reports. Never holds the token itself."""

    env: str
    valid: bool
    layer: str | None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    remaining_s: int | None = None
    refresh_due_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = v.isoformat()
        return out


def _fernet_key(app_secret: str, key_id: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"quartz-token-store",
               info=key_id.encode()).derive(app_secret.encode())
    return base64.urlsafe_b64encode(raw)


class TokenManager:
    """Implements the KIS client's TokenSource for one environment and app key."""

    def __init__(
        self,
        *,
        env: str,
        app_key: str,
        app_secret: str,
        issuer: Callable[[], Awaitable[IssuedToken]],
        cache_dir: Path,
        store: Store | None = None,
        clock: Callable[[], datetime] = utcnow,
        issue_interval: timedelta = ISSUE_INTERVAL,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        events: EventSink | None = None,
    ) -> None:
        self.env = env
        self.events = events
        # The key id separates environments and app keys: a paper token is never used for real.
        self.key_id = hashlib.sha256(f"{env}\0{app_key}".encode()).hexdigest()[:24]
        self._app_secret = app_secret
        self._issuer = issuer
        self.cache_dir = Path(cache_dir)
        self.store = store
        self.clock = clock
        self.issue_interval = issue_interval
        self._sleep = sleep
        self._memory: CachedToken | None = None
        self._lock: asyncio.Lock | None = None
        self._cache: Any = None
        self.layer: str | None = None
        self.issued = 0

    # --- disk layer (diskcache, 0700 directory, 0600 files) ---------------------------------

    @property
    def disk(self) -> Any:
        if self._cache is None:
            import diskcache

            def open_cache() -> Any:
                self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.chmod(self.cache_dir, 0o700)
                old = os.umask(0o077)
                try:
                    return diskcache.Cache(str(self.cache_dir))
                finally:
                    os.umask(old)

            self._cache = self._on_disk(open_cache)
            self._tighten()
        return self._cache

    def _on_disk(self, op: Callable[[], T]) -> T:
        """Run one operation of the disk cache, its failures named (which folder, the fix)."""
        import sqlite3

        try:
            return op()
        except (OSError, sqlite3.Error) as exc:
            raise local_state_error(self.cache_dir, "the token cache", exc,
                                    fix="make the folder writable and free some space",
                                    corrupt_fix=REPAIR_HINT) from None

    def set_aside_disk_cache(self) -> Path | None:
        """Move a damaged disk cache out of the way (kept for inspection, never read again);
        the next call starts an empty one. Returns where it went, None if there was none."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        if not self.cache_dir.exists():
            return None
        aside = self.cache_dir.with_name(f"{self.cache_dir.name}.damaged-"
                                         f"{utcnow():%Y%m%dT%H%M%SZ}")
        self.cache_dir.rename(aside)
        log.warning("the token cache %s was damaged; moved to %s", self.cache_dir, aside)
        return aside

    def _tighten(self) -> None:
        for entry in self.cache_dir.rglob("*"):
            os.chmod(entry, 0o700 if entry.is_dir() else 0o600)

    def _disk_key(self, what: str) -> str:
        return f"{what}:{self.key_id}"

    def _disk_get(self) -> CachedToken | None:
        raw = self._on_disk(lambda: self.disk.get(self._disk_key("token")))
        if not raw:
            return None
        try:
            return CachedToken.from_json(raw)
        except (ValueError, KeyError, TypeError):
            raise LocalStateCorrupt(f"the token cache {self.cache_dir} holds an unreadable "
                                    "token", path=str(self.cache_dir), hint=REPAIR_HINT) from None

    def _disk_put(self, token: CachedToken) -> None:
        def put() -> None:
            old = os.umask(0o077)
            try:
                self.disk.set(self._disk_key("token"), token.to_json())
                self.disk.set(self._disk_key("last_issue"), token.issued_at.isoformat())
            finally:
                os.umask(old)

        self._on_disk(put)
        self._tighten()

    def _disk_drop(self, token: str) -> None:
        current = self._disk_get()
        if current and current.access_token == token:
            self._on_disk(lambda: self.disk.delete(self._disk_key("token")))

    # --- store layer (encrypted; shared by the pods of a cluster) ---------------------------

    @property
    def _store_key(self) -> str:
        return f"auth/token-{self.key_id}.enc"

    @property
    def _lease_key(self) -> str:
        return f"auth/token-{self.key_id}.lease"

    def _fernet(self) -> Any:
        from cryptography.fernet import Fernet

        return Fernet(_fernet_key(self._app_secret, self.key_id))

    def _store_get(self) -> CachedToken | None:
        if self.store is None:
            return None
        from cryptography.fernet import InvalidToken

        try:
            raw = self.store.get(self._store_key)
        except StoreError as exc:
            log.warning("token store unavailable, continuing with the disk cache: %s", exc)
            return None
        if raw is None:
            return None
        try:
            return CachedToken.from_json(self._fernet().decrypt(raw))
        except (InvalidToken, ValueError, KeyError):
            log.warning("the stored token cannot be decrypted (another app secret?); ignoring it")
            return None

    def _store_put(self, token: CachedToken) -> None:
        if self.store is None:
            return
        try:
            self.store.put(self._store_key, self._fernet().encrypt(token.to_json().encode()))
        except StoreError as exc:
            log.warning("could not share the token through the store: %s", exc)

    def _store_drop(self, token: str) -> None:
        current = self._store_get()
        if current and current.access_token == token and self.store is not None:
            try:
                self.store.delete(self._store_key)
            except StoreError as exc:
                log.warning("could not drop the rejected token from the store: %s", exc)

    def _take_lease(self) -> bool:
        """Claim the right to issue, cluster-wide. True if this process holds it."""
        if self.store is None:
            return True
        now = self.clock()
        body = json.dumps({"holder": f"{socket.gethostname()}:{os.getpid()}",
                           "expires_at": (now + LEASE_TTL).isoformat()}).encode()
        try:
            if self.store.put_if_absent(self._lease_key, body):
                return True
            raw = self.store.get(self._lease_key)
            if raw is None:
                return self.store.put_if_absent(self._lease_key, body)
            expires = datetime.fromisoformat(json.loads(raw)["expires_at"])
            if expires <= now:
                log.info("taking over an expired token lease")
                self.store.delete(self._lease_key)
                return self.store.put_if_absent(self._lease_key, body)
            return False
        except StoreError as exc:
            # A dead store must not stop trading: the host lock still prevents duplicates here.
            log.warning("token lease unavailable, issuing under the host lock only: %s", exc)
            return True
        except (ValueError, KeyError):
            self.store.delete(self._lease_key)
            return self.store.put_if_absent(self._lease_key, body)

    def _release_lease(self) -> None:
        if self.store is None:
            return
        try:
            self.store.delete(self._lease_key)
        except StoreError as exc:
            log.warning("could not release the token lease: %s", exc)

    # --- the TokenSource protocol -----------------------------------------------------------

    async def token(self) -> str:
        """A fresh access token, from the nearest layer that has one."""
        return (await self.current(force=False)).access_token

    async def reject(self, token: str) -> None:
        """The broker refused `token`: drop it from every layer so the next call reissues."""
        if self._memory and self._memory.access_token == token:
            self._memory = None
        self._disk_drop(token)
        self._store_drop(token)

    def next_issue_at(self) -> datetime | None:
        """When KIS will issue the next token (one a minute); None if none was issued yet."""
        last = self._last_issue()
        return None if last is None else last + self.issue_interval

    async def refresh(self) -> CachedToken:
        """Issue a new token now (KIS returns the same one if asked again within 6 h)."""
        return await self.current(force=True)

    def repair_disk_cache(self) -> Path | None:
        """Set the disk cache aside if it is damaged (`quartz auth refresh` does this first);
        where it went, or None when it was sound."""
        try:
            self._disk_get()
        except LocalStateCorrupt:
            return self.set_aside_disk_cache()
        return None

    async def current(self, *, force: bool) -> CachedToken:
        now = self.clock()
        if not force and self._memory and self._memory.fresh(now):
            self.layer = "memory"
            return self._memory
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not force:
                found = self._from_caches()
                if found:
                    return found
            from filelock import FileLock

            self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            lock = FileLock(str(self.cache_dir / f"issue-{self.key_id}.lock"),
                            thread_local=False, mode=0o600)
            await asyncio.to_thread(lock.acquire, timeout=LOCK_TIMEOUT_S)
            try:
                if not force:
                    found = self._from_caches()
                    if found:
                        return found
                return await self._issue_with_lease(force)
            finally:
                lock.release()

    def _from_caches(self) -> CachedToken | None:
        now = self.clock()
        disk = self._disk_get()
        if disk and disk.fresh(now):
            self._memory, self.layer = disk, "disk"
            return disk
        shared = self._store_get()
        if shared and shared.fresh(now):
            self._disk_put(shared)
            self._memory, self.layer = shared, "store"
            return shared
        return None

    async def _issue_with_lease(self, force: bool) -> CachedToken:
        waited = timedelta(0)
        while not self._take_lease():
            # Another pod is issuing: wait for its token to appear rather than issue twice.
            await self._sleep(1.0)
            waited += timedelta(seconds=1)
            found = self._from_caches()
            if found:
                return found
            if waited > LEASE_TTL + timedelta(seconds=10):
                raise BrokerError("another process holds the token lease and produced no token")
        try:
            return await self._issue()
        finally:
            self._release_lease()

    def _last_issue(self) -> datetime | None:
        times = []
        raw = self._on_disk(lambda: self.disk.get(self._disk_key("last_issue")))
        if raw:
            times.append(datetime.fromisoformat(raw))
        shared = self._store_get()
        if shared:
            times.append(shared.issued_at)
        return max(times) if times else None

    async def _issue(self) -> CachedToken:
        for attempt in range(len(THROTTLE_WAITS_S) + 1):
            last = self._last_issue()
            if last is not None:
                # Capped at one interval: a last issuance "in the future" (clock skew between
                # hosts, or a simulated clock) must not stall a job for days.
                wait = min((last + self.issue_interval - self.clock()).total_seconds(),
                           self.issue_interval.total_seconds())
                if wait > 0:
                    log.warning("waiting %.0f s: KIS allows one token issuance a minute", wait)
                    await self._sleep(wait)
            try:
                issued = await self._issuer()
            except TokenIssueThrottled as exc:
                if attempt == len(THROTTLE_WAITS_S):
                    await self._event(EventType.TOKEN_FAILED, {"error": exc.message})
                    raise
                wait = THROTTLE_WAITS_S[attempt]
                log.warning("KIS throttled token issuance; waiting %.0f s", wait)
                await self._sleep(wait)
                continue
            except QuartzError as exc:
                await self._event(EventType.TOKEN_FAILED, {"error": exc.message})
                raise
            token = CachedToken.from_issued(issued)
            self.issued += 1
            await self._event(EventType.TOKEN_ISSUED, {"expires_at": token.expires_at.isoformat()})
            self._disk_put(token)
            self._store_put(token)
            self._memory, self.layer = token, "issued"
            return token
        raise AssertionError("unreachable")

    async def _event(self, kind: EventType, data: dict[str, object]) -> None:
        # In a worker thread: a job's sink may send the event to the owner over HTTP.
        if self.events is not None:
            await asyncio.to_thread(self.events.append, kind.value,
                                    data={"env": self.env, **data})

    def status(self) -> TokenStatus:
        """The cached token's state without issuing anything."""
        now = self.clock()
        layer, token = None, None
        if self._memory:
            layer, token = "memory", self._memory
        else:
            disk = self._disk_get()
            if disk:
                layer, token = "disk", disk
            else:
                shared = self._store_get()
                if shared:
                    layer, token = "store", shared
        if token is None:
            return TokenStatus(env=self.env, valid=False, layer=None)
        return TokenStatus(
            env=self.env,
            valid=token.fresh(now),
            layer=layer,
            issued_at=token.issued_at,
            expires_at=token.expires_at,
            remaining_s=max(0, int((token.expires_at - now).total_seconds())),
            refresh_due_at=min(token.issued_at + REFRESH_AGE, token.expires_at - MIN_REMAINING),
        )
