"""Composition root, broker runtime: builds the concrete adapters (simulator or KIS domain,
store, token manager, KIS client, market data and account, order executors) from the
configuration. The CLI and the servers call this; agents only see the ports."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import httpx

from quartz_cli.agents.auth import TokenManager
from quartz_cli.agents.trading import RetryPolicy, TradingAgent
from quartz_cli.app.events import EventRecorder
from quartz_cli.config import Config, Env
from quartz_cli.domain.events import FeeRates
from quartz_cli.kis.broker import KisBroker
from quartz_cli.kis.client import KisClient
from quartz_cli.kis.endpoints import KisEndpoint, endpoint_for
from quartz_cli.kis.market import KisAccount, KisMarketData
from quartz_cli.kis.oauth import issue_token
from quartz_cli.kis.ratelimit import FileBook, RateLimiter, account_tag, budget_path
from quartz_cli.ports import Account, MarketData, OrderExecutor, Store
from quartz_cli.sim import SimConfig, SimState, Simulator
from quartz_cli.sim.faults import SimTransport
from quartz_cli.store.order_ledger import SqliteOrderLedger

if TYPE_CHECKING:
    from quartz_cli.domain.universe import Universe
    from quartz_cli.remote.owner_reads_client import OwnerReadsClient
    from quartz_cli.remote.trading_client import TradingClient
    from quartz_cli.store.disk_cache import DiskResultCache


def open_store(config: Config) -> Store:
    """S3 when `S3_BUCKET_NAME` is set outside `local` (with this host's copy under
    `$QUARTZ_HOME/cache/store-copy/<env>/` answering while S3 is unreachable, see
    `store.mirrored`), else a folder (`QUARTZ_STORE_DIR`, default `$QUARTZ_HOME/store/<env>`)."""
    s = config.settings.store
    if s.s3_bucket_name and config.env is not Env.LOCAL:
        from quartz_cli.store.local import LocalStore
        from quartz_cli.store.mirrored import MirroredStore
        from quartz_cli.store.s3 import S3Store

        copies = config.home / "cache" / "store-copy" / config.env.value
        return MirroredStore(S3Store(
            s.s3_bucket_name,
            region=s.aws_region,
            prefix=config.env.value,
            endpoint_url=s.s3_endpoint_url,
            access_key_id=s.aws_access_key_id.get_secret_value() if s.aws_access_key_id else None,
            secret_access_key=(
                s.aws_secret_access_key.get_secret_value() if s.aws_secret_access_key else None
            ),
        ), LocalStore(copies / "objects"), LocalStore(copies / "pending"))
    from quartz_cli.store.local import LocalStore

    return LocalStore(s.store_dir or config.home / "store" / config.env.value)


def local_simulator(config: Config) -> Simulator:
    """The in-process simulator of `local`, persisted under `$QUARTZ_HOME/sim/` so every
    process of a run (and `quartz sim serve`) sees the same broker."""
    def listings() -> Universe:
        # The listings `quartz select universe` wrote from KIS's master files (the whole
        # KRX), else the bundled ones: the simulator makes a market for each.
        from quartz_cli.agents.selection import selection_universe

        return selection_universe(config.home)

    return Simulator(SimState(config.home / "sim" / "local.db"), SimConfig.from_env(),
                     clock=lambda: config.market_now().timestamp(), cache_dir=config.home / "cache",
                     universe=listings)


def technical_cache(config: Config) -> DiskResultCache:
    """The technical agent's five-minute result cache, `$QUARTZ_HOME/cache/technical/`."""
    from quartz_cli.store.disk_cache import DiskResultCache

    return DiskResultCache(config.home / "cache" / "technical")


def http_client(config: Config, endpoint: KisEndpoint, sim: Simulator | None) -> httpx.AsyncClient:
    timeout = httpx.Timeout(config.settings.broker.http_timeout_s, connect=5.0)
    if endpoint.in_process:
        assert sim is not None
        simulator = sim

        async def app(scope: Any, receive: Any, send: Any) -> None:
            # The simulator's routes (and its market, numpy included) are built on the first
            # request: a command that only reads the token cache never builds them.
            await simulator.app(scope, receive, send)

        return httpx.AsyncClient(transport=SimTransport(app), timeout=timeout)
    return httpx.AsyncClient(timeout=timeout)


@dataclass
class Runtime:
    """Everything a command needs to talk to the broker and the store."""

    config: Config
    endpoint: KisEndpoint
    store: Store
    tokens: TokenManager
    kis: KisClient
    market: MarketData
    account: Account
    sim: Simulator | None
    # The owner's read API when the market data and account come through it.
    reads: OwnerReadsClient | None = None

    async def aclose(self) -> None:
        if self.reads is not None:
            await self.reads.aclose()
        await self.kis.aclose()
        self.kis.limiter.close()

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def rate_limiter(config: Config, endpoint: KisEndpoint, app_secret: str,
                 sim: Simulator | None) -> RateLimiter:
    """The account's one REST budget on this host: a file under `$QUARTZ_HOME/cache/ratelimit/`
    named by env and a keyed hash of the account, shared by every process that calls KIS for
    it. In `local` the pace is the simulator's limit for the paper protocol (`QUARTZ_SIM_LIMITS`),
    unless `QUARTZ_RATE_LIMIT_PER_S` says otherwise."""
    rate = endpoint.rate_per_s
    if endpoint.env is Env.LOCAL and config.settings.broker.rate_limit_per_s is None:
        simulated = (sim.config if sim is not None else SimConfig.from_env()).rest_limit_per_s()
        rate = simulated or rate
    tag = account_tag(config.env.value, config.account(), app_secret)
    return RateLimiter(rate, config.settings.broker.rate_share,
                       book=FileBook(budget_path(config.home, config.env.value, tag)))


def local_protocol(endpoint: KisEndpoint, sim: Simulator | None) -> KisEndpoint:
    """`local` speaks the protocol its simulator accepts: the paper account's, or the real
    account's (T… TR_IDs, batch quotes) when the simulator takes real TR_IDs
    (QUARTZ_SIM_REAL_TR_IDS, read from this process's environment for one on loopback)."""
    if endpoint.env is not Env.LOCAL:
        return endpoint
    real = (sim.config if sim is not None else SimConfig.from_env()).real_tr_ids
    return replace(endpoint, real_tr_ids=real)


def with_bar_store(config: Config, store: Store, market: MarketData) -> MarketData:
    """`market` with its daily bars kept in `store` and updated incrementally
    (`quartz_cli.store.bars`): every run analyses fresh bars for the cost of the new
    sessions only."""
    from quartz_cli.calendars import krx_calendar
    from quartz_cli.store.bars import BarStore

    cache = config.home / "cache"
    return BarStore(store, market, clock=config.market_now,
                    calendar=lambda: krx_calendar(cache))


def open_runtime(config: Config, *, sim: Simulator | None = None,
                 store: Store | None = None, reads_via_owner: bool = False) -> Runtime:
    """Wire the broker session for `config.env` (over `store`, else the configured one);
    raises ConfigError for missing keys.

    With `reads_via_owner` (the jobs) and TRADING_AGENT_WS_URL set, quotes, bars and the
    account come through the trading agent's read API, so every KIS call of the account
    leaves from the owner."""
    from quartz_cli.app.local_state import writable_home

    endpoint = endpoint_for(config)
    app_key, app_secret = config.broker_credentials()
    writable_home(config)
    if endpoint.in_process and sim is None:
        sim = local_simulator(config)
    endpoint = local_protocol(endpoint, sim)
    http = http_client(config, endpoint, sim)
    limiter = rate_limiter(config, endpoint, app_secret, sim)
    raw = KisClient(endpoint, app_key, app_secret, None, http, limiter=limiter)
    store = store if store is not None else open_store(config)
    tokens = TokenManager(
        env=config.env.value,
        app_key=app_key,
        app_secret=app_secret,
        issuer=lambda: issue_token(raw, app_key, app_secret, now=config.market_now()),
        cache_dir=config.home / "cache" / "tokens",
        store=store,
        # Token times come from the broker's clock: the simulated market clock in local.
        clock=config.market_now,
        events=EventRecorder(config),
    )
    kis = KisClient(endpoint, app_key, app_secret, tokens, http, limiter=limiter)
    url = config.settings.servers.trading_agent_ws_url
    if reads_via_owner and url:
        from quartz_cli.app.internal_token import internal_token
        from quartz_cli.remote.owner_reads_client import (
            OwnerReadsClient,
            RemoteAccount,
            RemoteMarketData,
        )

        reads = OwnerReadsClient(url, internal_token(config))
        return Runtime(config=config, endpoint=endpoint, store=store, tokens=tokens, kis=kis,
                       market=with_bar_store(config, store, RemoteMarketData(reads)),
                       account=RemoteAccount(reads), sim=sim,
                       reads=reads)
    return Runtime(config=config, endpoint=endpoint, store=store, tokens=tokens, kis=kis,
                   market=with_bar_store(config, store, KisMarketData(kis)),
                   account=KisAccount(kis, config.account()),
                   sim=sim)


def trading_agent(rt: Runtime, policy: RetryPolicy | None = None) -> TradingAgent:
    """The trading agent over `rt`'s broker account, with its ledger in
    `$QUARTZ_HOME/trading/<env>-ledger.db` and request claims in `rt.store`. In prod it
    refuses every order unless QUARTZ_LIVE_TRADING=true."""
    from quartz_cli.app.ownership import trading_dir

    config = rt.config
    from quartz_cli.calendars import krx_calendar

    c = config.constraints()
    ledger = SqliteOrderLedger(trading_dir(config) / f"{config.env.value}-ledger.db",
                               FeeRates(c.buy_fee_rate, c.sell_fee_rate, c.sell_tax_rate))
    return TradingAgent(
        KisBroker(rt.kis, config.account()), ledger, env=config.env.value,
        market_now=config.market_now, store=rt.store, policy=policy,
        live_trading_allowed=config.env is not Env.PROD or config.settings.broker.live_trading,
        calendar=lambda: krx_calendar(config.home / "cache"))


def trading_client(config: Config, ws_url: str) -> TradingClient:
    """The remote order executor: the trading server at `ws_url` (WebSocket, HTTP
    fallback), authenticated with the internal bearer token. Close it with `aclose()`."""
    from quartz_cli.app.internal_token import internal_token
    from quartz_cli.remote.trading_client import TradingClient, check_ws_url

    # A malformed address is the first thing to say, before any missing token.
    check_ws_url(ws_url)
    return TradingClient(ws_url, internal_token(config))


@contextlib.asynccontextmanager
async def open_order_executor(rt: Runtime) -> AsyncIterator[OrderExecutor]:
    """Where the portfolio agent sends orders: the trading server at TRADING_AGENT_WS_URL
    when it is set, else this process as the account's owner (`ownership.owned_executor`:
    the lease taken, or the trading server that holds it). Both execute each request_id at
    most once."""
    from quartz_cli.app.ownership import owned_executor

    url = rt.config.settings.servers.trading_agent_ws_url
    if not url:
        async with owned_executor(rt) as executor:
            yield executor
        return
    async with trading_client(rt.config, url) as client:
        yield client
