"""The ports: what the agents need from the outside world, as small protocols.

Agents import only the domain, this module and the core (errors, redaction, settings types);
adapters (`kis`, `store`, `llm`, `sources`, `sim`) implement these protocols, and the
composition root (`quartz_cli.app`) plugs one into the other. The few value types that cross
a port and belong to no domain model (an LLM role's answer envelope, a crawl's articles, an
issued token, a ledger entry) live here too, so both sides can name them.

Blocking and async: the `Store` and the `OrderLedger` are synchronous (local disk, S3 through
boto3, SQLite); everything that talks to a broker, an LLM or a web site is async."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Generic, Protocol, TypeVar, runtime_checkable

from quartz_cli.domain.account import Balance
from quartz_cli.domain.bars import Bar, Period
from quartz_cli.domain.decision import DecisionInput, PortfolioView, Quote
from quartz_cli.domain.engine import EngineAnswer
from quartz_cli.domain.events import Event
from quartz_cli.domain.macro import MacroView, Observation, SeriesStats, SourceStatus
from quartz_cli.domain.notices import OrderNotice
from quartz_cli.domain.orders import (
    OpenOrder,
    OrderOutcome,
    OrderReport,
    OrderRequest,
    OrderState,
    OrderTicket,
    OrderType,
    Side,
)
from quartz_cli.domain.pretrade import DayTurnover, TradingState
from quartz_cli.domain.usage import Usage
from quartz_cli.errors import QuartzError, SafetyRefusal

T = TypeVar("T")

# --- clock ------------------------------------------------------------------------------------

#: The market clock: an aware datetime (the simulated market time in `local`).
Clock = Callable[[], datetime]


# --- events -----------------------------------------------------------------------------------


class EventSink(Protocol):
    """The account's append-only event log (`domain.events`): synchronous (SQLite)."""

    def append(self, kind: str, *, now: datetime | None = None, run_id: str | None = None,
               request_id: str | None = None, data: dict[str, object] | None = None) -> int:
        """Append one event; its sequence number."""
        ...


class EventReader(Protocol):
    """The event log as the notifier reads it, with each channel's delivery cursor."""

    def since(self, seq: int = 0, *, limit: int = 1000,
              types: set[str] | None = None) -> list[Event]: ...

    def last_seq(self) -> int: ...

    def cursor(self, channel: str) -> int | None: ...

    def set_cursor(self, channel: str, seq: int) -> None: ...


class NotificationFailed(QuartzError):
    """A channel did not take a message (down, refused, throttled): retried later.
    `retry_after` is the wait the endpoint asked for, when it said."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotificationChannel(Protocol):
    """One place notifications go (Telegram, Slack, a webhook)."""

    name: str

    async def send(self, text: str, event: Event | None) -> None:
        """Deliver one message (`event` None: a message about the channel itself, such as
        what it skipped). Raises NotificationFailed."""
        ...

    async def aclose(self) -> None: ...


# --- store ------------------------------------------------------------------------------------


@runtime_checkable
class Store(Protocol):
    """A flat key → bytes store. Keys use `/` as a separator (`macro-analysis/latest.json`).
    Implemented by a local folder (atomic rename) and S3 (conditional writes)."""

    description: str

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when absent."""

    def put(self, key: str, data: bytes) -> None:
        """Write the object whole (readers never see a partial object)."""

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Write only if no object has the key; True if this call created it."""

    def delete(self, key: str) -> None:
        """Remove the object; absent keys are not an error."""

    def list(self, prefix: str) -> list[str]:
        """Every key that starts with `prefix`, sorted."""

    def ping(self) -> None:
        """Raise StoreError if the store cannot be reached."""


@runtime_checkable
class CopyAwareStore(Store, Protocol):
    """A shared store that answers from this host's copy while it cannot be reached (the
    seed's degraded mode). Readers treat a document answered by the copy as stale."""

    #: Why the copy is answering; None while the shared store works.
    unreachable: str | None

    def from_copy(self, key: str) -> bool:
        """True when `key` was last answered by the copy, not by the shared store."""

    @property
    def stale_keys(self) -> list[str]:
        """Every key answered by the copy so far."""


# --- market data and account ------------------------------------------------------------------


@dataclass(frozen=True)
class DailyBars:
    """Bars of one ticker and period, oldest first, with the venue's name for the ticker."""

    code: str
    name: str
    period: Period
    bars: list[Bar]


class MarketData(Protocol):
    """Prices and bars from the broker (or the simulator)."""

    #: Where the prices come from, as outputs should cite it.
    source: str

    async def quotes(self, tickers: Sequence[str]) -> tuple[dict[str, Quote], dict[str, str]]:
        """Current quotes, and the tickers whose quote failed (halted, unknown) with why."""

    async def daily_bars(self, ticker: str, start: date, end: date,
                         period: Period = Period.DAY) -> DailyBars:
        """Every bar of `period` from `start` to `end` inclusive, oldest first."""


class Account(Protocol):
    """One broker account as the portfolio manager sees it."""

    async def orderable_cash(self) -> int:
        """Won that may be spent on new orders now (net of what open buys reserve)."""

    async def portfolio(self) -> PortfolioView:
        """Orderable cash and the positions held."""


# --- orders -----------------------------------------------------------------------------------


@runtime_checkable
class OrderExecutor(Protocol):
    """Executes orders at most once per request_id. The trading agent implements it
    in-process; `quartz_cli.remote.trading_client.TradingClient` over the trading server."""

    async def submit(self, request: OrderRequest) -> OrderOutcome:
        """Execute `request` (or return the stored outcome of its request_id)."""

    async def outcome(self, request_id: str) -> OrderOutcome | None:
        """The stored outcome of `request_id` (None if the executor never saw it)."""

    async def refresh(self) -> None:
        """Bring booked orders up to date with the broker's fills and cancels (their
        `outcome` then shows the fills)."""

    async def cancelable_orders(self) -> list[OpenOrder]:
        """Orders of today with an unfilled remainder."""

    async def day_turnover(self) -> DayTurnover | None:
        """The account's turnover budget for today as its owner counts it (None when
        there is no owner to ask), so a run plans buys the owner will let through."""


class Broker(Protocol):
    """What the trading agent needs from one broker account (`kis.broker.KisBroker`)."""

    async def place(self, side: Side, ticker: str, qty: int, order_type: OrderType,
                    price: int) -> OrderTicket: ...

    async def cancel(self, org_no: str, order_no: str, qty: int = 0) -> OrderTicket: ...

    async def daily_orders(self, day: date, *, ticker: str = "",
                           side: Side | None = None) -> list[OrderReport]: ...

    async def cancelable_orders(self, day: date) -> list[OpenOrder]: ...

    async def balance(self) -> Balance: ...


@dataclass(frozen=True)
class LedgerEntry:
    """One request and where it stands in the trading agent's ledger."""

    request: OrderRequest
    fingerprint: str
    state: OrderState
    attempts: int
    order_no: str | None
    org_no: str | None
    order_date: str | None
    filled_qty: int
    avg_fill_price: int | None
    code: str | None
    message: str
    env: str
    updated_at: datetime

    def outcome(self) -> OrderOutcome:
        r = self.request
        return OrderOutcome(
            request_id=r.request_id, state=self.state, side=r.side, ticker=r.ticker,
            qty=r.qty, order_type=r.order_type, price=r.price, order_no=self.order_no,
            org_no=self.org_no, filled_qty=self.filled_qty,
            avg_fill_price=self.avg_fill_price, attempts=self.attempts, code=self.code,
            message=self.message, updated_at=self.updated_at, env=self.env)


class LedgerError(QuartzError):
    """The ledger refused a move (a state changed under us, or an order number clash)."""


class OrderLedger(Protocol):
    """The trading agent's durable record, one row per request_id, moved by compare-and-set
    (`store.order_ledger.SqliteOrderLedger`)."""

    #: This ledger's owner id in the shared store's claims.
    instance_id: str

    def claim(self, request: OrderRequest, env: str, now: datetime
              ) -> tuple[LedgerEntry, bool]:
        """The entry of `request.request_id`, created `received` if new (True)."""

    def get(self, request_id: str) -> LedgerEntry | None: ...

    def by_order_no(self, order_no: str) -> LedgerEntry | None: ...

    def move(self, request_id: str, expected: OrderState, to: OrderState, now: datetime, *,
             note: str = "", **fields: object) -> LedgerEntry:
        """Move from `expected` to `to` (LedgerError when the state moved meanwhile)."""

    def note(self, request_id: str, now: datetime, note: str) -> None:
        """Add an event to the request's history without moving it (evidence)."""

    def history(self, request_id: str) -> list[tuple[str | None, str, str]]:
        """(from, to, note) of every move and note of one request, oldest first."""

    def forget(self, request_id: str, expected: OrderState) -> None: ...

    def known_order_nos(self) -> set[str]: ...

    def in_states(self, *states: OrderState) -> list[LedgerEntry]: ...

    def updated_since(self, since: datetime) -> list[LedgerEntry]:
        """Entries moved or created at or after `since` (a superset of a day's requests)."""

    def entries(self, *, limit: int = 500) -> list[LedgerEntry]: ...

    def fence(self, epoch: int) -> None:
        """Write from now on as the holder of the account's lease at `epoch`; LeaseLost when
        a later epoch already wrote (every later write checks it again)."""



class NoticeStream(Protocol):
    """The broker's real-time order notices for one account (`kis.realtime.KisNoticeStream`):
    a connection that reconnects by itself. `run` returns only when cancelled, or raises a
    `QuartzError` it cannot recover from (e.g. a notice layout it does not know)."""

    async def run(self, on_notice: Callable[[OrderNotice], Awaitable[None]],
                  on_connected: Callable[[], Awaitable[None]]) -> None:
        """Deliver each notice to `on_notice`, in order; after every (re)subscription call
        `on_connected` (the broker does not replay notices missed while disconnected)."""

# --- the account's lease ----------------------------------------------------------------------


class LeaseKind(str, Enum):
    """Who holds an account's lease: a trading server, or one CLI run."""

    SERVER = "server"
    CLI = "cli"


@dataclass(frozen=True)
class LeaseHolder:
    """Who owns an account (its lease holder record). `url` is a server's order WebSocket;
    `epoch` the lease's fencing number, given by `AccountLease.acquire`."""

    kind: LeaseKind
    pid: int
    host: str
    started_at: datetime
    url: str | None = None
    epoch: int = 0

    def describe(self) -> str:
        """'a trading server (pid 4242 on host-a, since 2026-11-24T01:00:00+00:00, at ws://…)'."""
        what = "a trading server" if self.kind is LeaseKind.SERVER else "a quartz CLI run"
        at = f", at {self.url}" if self.url else ""
        return (f"{what} (pid {self.pid} on {self.host}, since "
                f"{self.started_at.isoformat(timespec='seconds')}{at})")


class LeaseHeld(SafetyRefusal):
    """Another process owns the account: only one may write its ledger."""

    def __init__(self, holder: LeaseHolder | None, account: str, *,
                 hint: str | None = None) -> None:
        who = holder.describe() if holder else "another process (its record is not written yet)"
        super().__init__(f"account {account} is owned by {who}", hint=hint)
        self.holder = holder


class LeaseLost(SafetyRefusal):
    """This process no longer holds the account's lease (another took it after it expired):
    it must not write the ledger or send orders."""


@runtime_checkable
class AccountLease(Protocol):
    """The right to own one account (`account`: its keyed hash): one holder at a time, each
    acquisition with a larger fencing epoch. On one host a lock under `$QUARTZ_HOME/trading/`,
    in a cluster a lease in the store (`quartz_cli.store.lease`)."""

    account: str

    def acquire(self, holder: LeaseHolder) -> LeaseHolder:
        """Take the lease for `holder`; returns the record with its epoch. LeaseHeld naming
        the current holder when another owns it."""

    def renew(self) -> None:
        """Keep the lease (a store lease expires unless renewed); LeaseLost if it is gone."""

    def release(self) -> None:
        """Give the lease up (idempotent)."""


@dataclass(frozen=True)
class TradingStatus:
    """The account's trading state, why, and when it was set (None: never set, active)."""

    state: TradingState
    reason: str = ""
    updated_at: datetime | None = None


class AccountStateStore(Protocol):
    """The account owner's durable state: the trading state and each KST trading day's
    start-of-day value (`store.owner_state.SqliteAccountStateStore`)."""

    def trading_status(self) -> TradingStatus: ...

    def set_trading_state(self, state: TradingState, reason: str,
                          now: datetime) -> TradingStatus: ...

    def recorded_start_of_day(self) -> dict[date, int]:
        """Every start-of-day value recorded so far, by day (a read: records nothing)."""
        ...

    def start_of_day(self, day: date, value: int, now: datetime) -> int:
        """The value recorded for `day`, recording `value` if none was (first writer wins)."""

    def first_loss_trip(self, day: date, now: datetime) -> bool:
        """True the first time it is asked for `day`: the daily loss limit trips once a day,
        so a `resume` by hand after a trip holds until the next trading day."""


# --- auth -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    """An access token as the broker issued it (expiry from the broker's own field)."""

    access_token: str
    issued_at: datetime
    expires_at: datetime


# --- LLM roles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A web source an LLM cited (Google Search grounding)."""

    title: str
    uri: str


@dataclass(frozen=True)
class LLMResult(Generic[T]):
    """A role's answer. `engine` names what produced it ("gemini:<model>", "openai:<model>",
    or "rules:<name>" for a deterministic engine), so every output can say so."""

    value: T
    engine: str
    usage: Usage | None = None
    sources: tuple[Source, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_rules(self) -> bool:
        return self.engine.startswith("rules:")


class MacroReporter(Protocol):
    """The macro report role: statistics and source states → a `MacroView`."""

    async def report(self, stats: list[SeriesStats], sources: list[SourceStatus], *,
                     sample_data: bool) -> LLMResult[MacroView]: ...


class MacroRules(Protocol):
    """The deterministic macro report, used when no LLM is configured or nothing is usable."""

    def __call__(self, stats: list[SeriesStats], sources: list[SourceStatus], *,
                 sample_data: bool, reason: str) -> LLMResult[MacroView]: ...


@dataclass(frozen=True)
class SentimentRequest:
    """One article to rate, with the tickers matched in it (code → name) and, per ticker,
    the sentences that mention it."""

    article_id: str
    title: str
    text: str
    tickers: dict[str, str]
    sentences: dict[str, list[str]]


@dataclass(frozen=True)
class Verdict:
    article_id: str
    code: str
    score: float
    reason: str
    engine: str


@dataclass
class SentimentOutcome:
    verdicts: list[Verdict] = field(default_factory=list)
    engines: list[str] = field(default_factory=list)
    dropped: int = 0
    notes: list[str] = field(default_factory=list)


class SentimentScorer(Protocol):
    """The news sentiment role (Gemini in batches, or the offline lexicon)."""

    async def score(self, requests: list[SentimentRequest]) -> SentimentOutcome:
        """A verdict for every (article, matched ticker) pair."""


class DecisionLLM(Protocol):
    """The decision role as an LLM: estimated cost first, then the answer (raises LLMError,
    `errors.BadAnswer` when the answer does not fit the schema)."""

    name: str

    def estimate_usd(self, request: DecisionInput) -> float: ...

    async def decide(self, request: DecisionInput) -> EngineAnswer: ...


class RuleDecider(Protocol):
    """The deterministic decision engine, answering at once."""

    def decide_now(self, request: DecisionInput) -> EngineAnswer: ...


#: Builds the rule engine that decides instead of the LLM, given the reason it does.
RuleDeciderFactory = Callable[[str], RuleDecider]


# --- macro sources ----------------------------------------------------------------------------


@dataclass
class Collected:
    """What one collector brought back: observations per series id, errors per series id."""

    series: dict[str, list[Observation]]
    errors: dict[str, QuartzError]


class Collector(Protocol):
    """A data source the macro agent collects from (ECOS, FRED, World Bank)."""

    source: str

    def series_ids(self) -> list[str]:
        """The catalogue series this collector provides."""

    async def collect(self, start: date, end: date) -> Collected:
        """Every series from `start` to `end`; failures are returned per series, not raised."""


# --- news -------------------------------------------------------------------------------------


@dataclass
class Article:
    """A news article. `text` is the body when it was fetched, else the feed's summary.

    Everything in it came from a third-party site: it is untrusted data."""

    source: str
    url: str
    title: str
    text: str
    published_at: datetime | None
    press: str = ""
    also_in: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        """A short stable id (used to refer to the article in LLM batches)."""
        return hashlib.sha1(self.url.encode()).hexdigest()[:12]


@dataclass
class SourceReport:
    """How one source's crawl went: a `domain.candidates.SourceState` value (fresh, stale,
    unreachable, forbidden, failed), the reason in `error`."""

    source: str
    status: str = "fresh"
    articles: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class CrawlResult:
    articles: list[Article]
    reports: list[SourceReport]
    duplicates: int


# (source name, step done, steps in this phase)
CrawlProgress = Callable[[str, int, int], None]


class NewsFeed(Protocol):
    """Every configured news site, crawled at once and de-duplicated."""

    #: The sites' names, in crawl order.
    names: list[str]

    async def crawl(self, since: datetime, progress: CrawlProgress | None = None
                    ) -> CrawlResult:
        """Articles published since `since`; a failing site is reported, not raised."""
