"""Composition root, account owner: the `AccountOwner` over a runtime's trading agent, its
durable state file, and the per-account run lock that serializes decide, rebalance and manual
orders on one host.

Files carry a short keyed hash of the account, never its number:
`$QUARTZ_HOME/trading/<hash>-owner.db` (trading state, start-of-day values) and
`$QUARTZ_HOME/trading/<hash>.run.lock`."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path
from typing import Any

import httpx
from filelock import FileLock, Timeout

from quartz_cli.agents.owner import AccountOwner
from quartz_cli.agents.trading import RetryPolicy, TradingAgent
from quartz_cli.app.events import EventRecorder
from quartz_cli.app.runtime import Runtime, trading_agent
from quartz_cli.calendars import krx_calendar
from quartz_cli.config import Config
from quartz_cli.domain.pretrade import Limits, TradingState
from quartz_cli.errors import BrokerUnavailable, QuartzError, SafetyRefusal
from quartz_cli.store.owner_state import SqliteAccountStateStore

#: How long a run waits for the previous run on the same account to finish.
RUN_LOCK_WAIT_S = 600.0


def account_hash(config: Config) -> str:
    """A short name for the account (env, number, product), keyed with the broker app secret:
    an 8-digit number is easy to recover from a plain hash, so only those who could trade the
    account can tell which one it is."""
    number, product = astuple(config.account())
    _, secret = config.broker_credentials()
    message = f"quartz-account:{config.env.value}:{number}:{product}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:12]


def trading_dir(config: Config) -> Path:
    path = config.home / "trading"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def account_states(config: Config) -> SqliteAccountStateStore:
    """The account's trading state and start-of-day values (no broker call)."""
    return SqliteAccountStateStore(trading_dir(config) / f"{account_hash(config)}-owner.db")


def account_owner(rt: Runtime, policy: RetryPolicy | None = None, *,
                  agent: TradingAgent | None = None) -> AccountOwner:
    """The owner of `rt`'s account: pre-trade risk and trading state around `agent` (by
    default a new trading agent over `rt` with `policy`). Before each check it takes the
    day's calendar (`market_calendar.trading_calendar`: in paper and prod, KIS's holiday
    inquiry over the table), so a server running for months follows each day."""
    from quartz_cli.agents.selection import selection_universe
    from quartz_cli.app.market_calendar import trading_calendar

    config = rt.config
    universe = selection_universe(config.home)
    return AccountOwner(
        agent or trading_agent(rt, policy), market=rt.market, states=account_states(config),
        calendar=krx_calendar(config.home / "cache"), limits=Limits(config.constraints()),
        listed=lambda code: code in universe,
        daily_loss_limit_pct=config.settings.exits.daily_loss_limit_pct,
        events=EventRecorder(config), refresh_calendar=lambda: trading_calendar(rt))


async def trading_state_over_http(ws_url: str, token: str, state: TradingState | None = None,
                                  reason: str = "") -> dict[str, Any]:
    """Read (or with `state`, set) the trading state of the trading server at `ws_url`
    (`servers/trading_admin.py`)."""
    from quartz_cli.errors import TradingAgentUnreachable
    from quartz_cli.remote.trading_client import check_ws_url

    check_ws_url(ws_url)
    base = ws_url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
    base = base.removesuffix("/ws/orders").rstrip("/")
    url = base + "/api/trading-state"
    headers = {"authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            if state is None:
                resp = await http.get(url, headers=headers)
            else:
                resp = await http.post(url, headers=headers,
                                       json={"state": state.value, "reason": reason})
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise TradingAgentUnreachable(ws_url, base, f"{type(exc).__name__}: {exc}") from None
    except httpx.HTTPError as exc:
        raise BrokerUnavailable(f"trading server unreachable: {type(exc).__name__}") from None
    if resp.status_code != 200:
        raise QuartzError(f"trading server answered {resp.status_code}: {resp.text[:200]}")
    body = resp.json()
    if not isinstance(body, dict):
        raise QuartzError("trading server answered something other than a JSON object")
    return body


async def trading_state_note(config: Config) -> str:
    """The plan note naming the account's trading state, from the trading server when
    TRADING_AGENT_WS_URL is set, else from this host's owner file."""
    url = config.settings.servers.trading_agent_ws_url
    try:
        if url:
            from quartz_cli.app.internal_token import internal_token

            doc = await trading_state_over_http(url, internal_token(config))
            state, reason = str(doc["state"]), str(doc.get("reason") or "")
        else:
            states = account_states(config)
            try:
                status = states.trading_status()
            finally:
                states.close()
            state, reason = status.state.value, status.reason
    except QuartzError as exc:
        return f"trading state: unknown ({exc.message})"
    return f"trading state: {state}" + (f" ({reason})" if reason else "")


@contextlib.contextmanager
def run_lock(config: Config, what: str, wait_s: float = RUN_LOCK_WAIT_S) -> Iterator[None]:
    """Hold the account's run lock for a run's read-plan-send, so runs on this host never
    interleave and each plans on the account after the previous run's orders are known."""
    path = trading_dir(config) / f"{account_hash(config)}.run.lock"
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        raise SafetyRefusal(f"another run on this account held its run lock for {wait_s:.0f} s; "
                            f"{what} did not start",
                            hint=f"wait for it to finish (lock file {path.name})") from None
    try:
        yield
    finally:
        lock.release()
