"""Composition root, account ownership: who may write an account's ledger and send its orders.

One owner per account (environment + account number, named by a keyed hash). The owner holds
the account's lease (`AccountLease`): on one host a lock under `$QUARTZ_HOME/trading/`, in a
cluster (an S3 store) a lease in the store. A trading server takes it for its lifetime; a CLI
run that would execute orders in its own process takes it for the length of the run, and when
a trading server holds it, sends through that server instead (its URL is in the holder record)
or refuses naming the holder. The ledger is fenced at the lease's epoch, so a process whose
lease was taken over cannot write it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from quartz_cli.agents.trading import RetryPolicy
from quartz_cli.config import Config, Env
from quartz_cli.domain.account_id import account_key
from quartz_cli.errors import ConfigError
from quartz_cli.ports import (
    AccountLease,
    LeaseHeld,
    LeaseHolder,
    LeaseKind,
    LeaseLost,
    OrderExecutor,
    Store,
)
from quartz_cli.store.lease import HostLease, StoreLease, private_dir

if TYPE_CHECKING:
    from quartz_cli.app.runtime import Runtime

log = logging.getLogger(__name__)

# A store lease lives this long without renewal; the holder renews it three times as often.
STORE_LEASE_TTL_S = 30.0
# How long the CLI waits for a trading server that holds the lease to answer its probe.
PROBE_TIMEOUT_S = 3.0


def trading_dir(config: Config) -> Path:
    """`$QUARTZ_HOME/trading/`, private to this user (ConfigError otherwise): it holds the
    account lock, the holder record, the ledger and the local internal token."""
    return private_dir(config.home / "trading")


def account_name(config: Config) -> str:
    """The account's keyed hash: its name in lock files, leases and logs."""
    number, product = astuple(config.account())
    _, secret = config.broker_credentials()
    return account_key(config.env.value, number, product, secret)


def _in_cluster(config: Config) -> bool:
    # The same condition as `runtime.open_store`: an S3 store is shared by every pod.
    return bool(config.settings.store.s3_bucket_name) and config.env is not Env.LOCAL


def account_lease(config: Config, store: Store) -> AccountLease:
    """The account's lease: in the shared store in a cluster, else a lock on this host."""
    if _in_cluster(config):
        return StoreLease(store, account_name(config), ttl_s=STORE_LEASE_TTL_S)
    return HostLease(trading_dir(config), account_name(config))


def me(kind: LeaseKind, url: str | None = None) -> LeaseHolder:
    """This process as a lease holder (the epoch is given by `acquire`)."""
    return LeaseHolder(kind=kind, pid=os.getpid(), host=socket.gethostname(),
                       started_at=datetime.now(UTC), url=url)


def advertised_url(config: Config, host: str, port: int) -> str:
    """The order WebSocket URL a server puts in its holder record: TRADING_AGENT_WS_URL in a
    cluster (the Service's name), else the bound address (loopback for a wildcard bind)."""
    configured = config.settings.servers.trading_agent_ws_url
    if configured and _in_cluster(config):
        return configured
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"ws://{netloc}/ws/orders"


class Ownership:
    """A held lease: renewed in a background thread while held (`renew_every_s`), released
    by `release()`. When renewal fails, `lost` is set; the ledger's fence refuses writes."""

    def __init__(self, lease: AccountLease, holder: LeaseHolder,
                 renew_every_s: float | None) -> None:
        self.lease = lease
        self.holder = holder
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if renew_every_s:
            self._thread = threading.Thread(target=self._renew, args=(renew_every_s,),
                                            name="lease-renewal", daemon=True)
            self._thread.start()

    def _renew(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                self.lease.renew()
            except LeaseLost as exc:
                log.error("lease lost: %s", exc.message)
                self.lost.set()
                return
            except Exception as exc:  # noqa: BLE001 - keep trying until the lease expires
                log.warning("lease renewal failed, will retry: %s", exc)

    def release(self) -> None:
        """Stop renewing and give the lease up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.lease.release()


def take_ownership(config: Config, store: Store, kind: LeaseKind,
                   url: str | None = None) -> Ownership:
    """Take the account's lease for this process (LeaseHeld naming the holder if another
    process owns the account)."""
    lease = account_lease(config, store)
    try:
        held = lease.acquire(me(kind, url))
    except LeaseHeld as exc:
        if kind is LeaseKind.SERVER and exc.hint is None:
            exc.hint = ("one trading server per account: send orders through that one, or "
                        "stop it before starting another")
        raise
    renew = STORE_LEASE_TTL_S / 3 if isinstance(lease, StoreLease) else None
    return Ownership(lease, held, renew)


async def _answers(http_url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as http:
            return (await http.get(http_url + "/health/live")).is_success
    except httpx.HTTPError:
        return False


@contextlib.asynccontextmanager
async def route_to_holder(config: Config, held: LeaseHeld) -> AsyncIterator[OrderExecutor]:
    """A client of the trading server that holds the account's lease; `held` (with a hint)
    when the holder is not a server, or cannot be reached, or no token is configured."""
    from quartz_cli.app.runtime import trading_client

    holder = held.holder
    if holder is None or holder.kind is not LeaseKind.SERVER or not holder.url:
        held.hint = "wait until it finishes, or send orders through a trading server"
        raise held
    try:
        client = trading_client(config, holder.url)
    except ConfigError as exc:
        held.hint = f"cannot send through it: {exc.message}"
        raise held from None
    async with client:
        if not await _answers(client.http_url):
            held.hint = (f"the server does not answer at {holder.url}: if it is stuck, stop "
                         f"it (pid {holder.pid} on {holder.host}) and run again")
            raise held
        log.info("account owned by %s: sending through it", holder.describe())
        yield client


@contextlib.asynccontextmanager
async def owned_executor(rt: Runtime, policy: RetryPolicy | None = None
                         ) -> AsyncIterator[OrderExecutor]:
    """Where this process's orders go when no trading server was named: this process as the
    account's owner for the length of the block (the lease taken, a trading agent fenced at
    its epoch), or, when a trading server owns the account, that server."""
    from quartz_cli.app.owner import account_owner
    from quartz_cli.app.runtime import trading_agent

    owner: Ownership | None = None
    held: LeaseHeld | None = None
    try:
        # A store lease is a few S3 calls: off the event loop.
        owner = await asyncio.to_thread(take_ownership, rt.config, rt.store, LeaseKind.CLI)
    except LeaseHeld as exc:
        held = exc
    if held is not None:
        # Outside the `except`: errors of the caller's block are not chained to LeaseHeld.
        async with route_to_holder(rt.config, held) as client:
            yield client
        return
    assert owner is not None
    try:
        agent = trading_agent(rt, policy)
        agent.ledger.fence(owner.holder.epoch)
        # Every order passes the account owner's pre-trade stage on its way to the agent.
        yield account_owner(rt, agent=agent)
    finally:
        await asyncio.to_thread(owner.release)
