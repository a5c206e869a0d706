"""The backtest: replay the portfolio manager's decision path over past KRX sessions.

For each session, at the decision time, the same code as a live `decide --dry-run` runs
(`agents.portfolio.run_decide`, then `run_rebalance` for stop-loss/take-profit) over ports
that show only what was known then: bars of sessions that closed before the decision time
(`AsOfMarket`), the simulated book (`Book`), and inputs built from those bars (the
technical agent over them; macro and candidates replayed or recomputed, see
`agents.backtest_inputs`; the universe as listed that day). Each order
then passes the account owner's pre-trade stage (`domain.pretrade.check_order`) against
the book, and fills at the first session that opens after the decision
(`domain.fills.fill_day_order`). Nothing is sent anywhere, and nothing is stored here.

Daily bars only: a decision time inside the session cannot be replayed (the price then is
not in a daily bar), so a decision is taken before the open (bars to the previous session,
filled at that day's open) or after the close (bars to that day, filled at the next open).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from quartz_cli.agents.backtest_inputs import DayInputSource
from quartz_cli.agents.decision_engine import Fallback
from quartz_cli.agents.inputs import analysis_view
from quartz_cli.agents.portfolio import (
    CandidateInfo,
    CandidatesRead,
    InputSource,
    MacroRead,
    PortfolioDeps,
    TechnicalRead,
    run_decide,
    run_rebalance,
)
from quartz_cli.agents.technical import analyze_tickers
from quartz_cli.domain.backtest_run import (
    PREFIX,
    BacktestRun,
    Benchmark,
    BookState,
    DataFingerprints,
    DayEntry,
    DayInputs,
    FillEntry,
    InputsUsed,
    RunSettings,
)
from quartz_cli.domain.bars import Bar, Period
from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.costs import SETTLEMENT_SESSIONS
from quartz_cli.domain.decision import (
    Constraints,
    DecisionInput,
    PortfolioView,
    Position,
    Quote,
)
from quartz_cli.domain.engine import EngineAnswer
from quartz_cli.domain.exits import ExitRules
from quartz_cli.domain.fills import PARTICIPATION, Fill, fill_day_order
from quartz_cli.domain.krx import KST, REGULAR_CLOSE, REGULAR_OPEN, price_limits
from quartz_cli.domain.market_index import IndexBar, index_fingerprint
from quartz_cli.domain.order_window import check_order_window
from quartz_cli.domain.orders import OrderRequest, OrderType, Side
from quartz_cli.domain.plan import DecisionPlan, PlanOrder
from quartz_cli.domain.pretrade import (
    AccountState,
    HeldPosition,
    InFlight,
    Limits,
    MarketFacts,
    check_order,
)
from quartz_cli.domain.universe import Listing
from quartz_cli.domain.usage import Usage
from quartz_cli.errors import BrokerError, InputError
from quartz_cli.ports import (
    DailyBars,
    DecisionLLM,
    RuleDecider,
    RuleDeciderFactory,
    Store,
)


@dataclass(frozen=True)
class BarPanel:
    """Every ticker's daily bars (oldest first) and names, held in memory for the run."""

    bars: dict[str, list[Bar]]
    names: dict[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_days", {c: [b.day for b in bs] for c, bs in self.bars.items()})

    def upto(self, code: str, last: date) -> list[Bar]:
        """The bars of `code` through `last` inclusive."""
        days: list[date] = self._days[code]  # type: ignore[attr-defined]
        return self.bars[code][:bisect.bisect_right(days, last)]

    def on(self, code: str, day: date) -> Bar | None:
        """The bar of `code` in session `day` (None: no bar, treated as a halt)."""
        days: list[date] = self._days.get(code, [])  # type: ignore[attr-defined]
        i = bisect.bisect_left(days, day)
        return self.bars[code][i] if i < len(days) and days[i] == day else None

    def cut(self, last: date) -> BarPanel:
        """The same panel with nothing after `last` (what existed on that day)."""
        return BarPanel({c: self.upto(c, last) for c in self.bars}, dict(self.names))

    def fingerprint(self) -> dict[str, str]:
        """Per ticker, a hash of its bars (what a stored run says it read)."""
        import hashlib

        out = {}
        for code, bars in sorted(self.bars.items()):
            h = hashlib.sha256()
            for b in bars:
                h.update(f"{b.day},{b.open},{b.high},{b.low},{b.close},{b.volume};".encode())
            out[code] = h.hexdigest()[:16]
        return out


class AsOfMarket:
    """`MarketData` over a panel as of one cutoff session: nothing after it exists."""

    def __init__(self, panel: BarPanel, last: date) -> None:
        self.panel = panel
        self.last = last
        self.source = f"backtest bars as of {last.isoformat()}"

    def quote(self, code: str) -> Quote | None:
        bars = self.panel.upto(code, self.last) if code in self.panel.bars else []
        # No bar in the cutoff session: halted, not listed yet or delisted; no quote, as live.
        if not bars or bars[-1].halted or bars[-1].day != self.last:
            return None
        b = bars[-1]
        base = bars[-2].close if len(bars) > 1 else b.open
        lim = price_limits(base)
        return Quote(ticker=code, price=b.close, base=base, upper=lim.upper, lower=lim.lower,
                     volume=b.volume, open=b.open, high=b.high, low=b.low)

    async def quotes(self, tickers: Sequence[str]) -> tuple[dict[str, Quote], dict[str, str]]:
        got: dict[str, Quote] = {}
        failed: dict[str, str] = {}
        for t in tickers:
            q = self.quote(t)
            if q is None:
                failed[t] = f"no trading on {self.last.isoformat()} (halted or not listed)"
            else:
                got[t] = q
        return got, failed

    async def daily_bars(self, ticker: str, start: date, end: date,
                         period: Period = Period.DAY) -> DailyBars:
        if ticker not in self.panel.bars:
            raise BrokerError(f"{ticker}: no bars in the backtest's data")
        bars = [b for b in self.panel.upto(ticker, min(end, self.last)) if b.day >= start]
        return DailyBars(ticker, self.panel.names.get(ticker, ""), Period.DAY, bars)


@dataclass
class Holding:
    qty: int
    avg_price: int


@dataclass
class Book:
    """The simulated account: cash and holdings (`Account` port)."""

    cash: int
    holdings: dict[str, Holding] = field(default_factory=dict)
    prices: dict[str, int] = field(default_factory=dict)

    async def orderable_cash(self) -> int:
        return self.cash

    async def portfolio(self) -> PortfolioView:
        return self.view()

    def view(self) -> PortfolioView:
        return PortfolioView(cash_krw=self.cash, positions=tuple(
            Position(ticker=t, qty=h.qty, sellable_qty=h.qty, avg_price=h.avg_price,
                     price=self.prices.get(t, h.avg_price))
            for t, h in sorted(self.holdings.items())))

    def invested(self) -> int:
        return sum(h.qty * self.prices.get(t, h.avg_price) for t, h in self.holdings.items())

    def value(self) -> int:
        return self.cash + self.invested()

    def apply(self, f: Fill) -> None:
        """Book a fill (cash and holdings, costs included)."""
        if not f.qty:
            return
        self.cash += f.cash_effect
        h = self.holdings.get(f.ticker)
        if f.side is Side.BUY:
            if h is None:
                self.holdings[f.ticker] = Holding(f.qty, f.price)
            else:
                total = h.qty + f.qty
                h.avg_price = round((h.qty * h.avg_price + f.qty * f.price) / total)
                h.qty = total
        elif h is not None:
            h.qty -= f.qty
            if h.qty <= 0:
                del self.holdings[f.ticker]


class BacktestInputs:
    """The `InputSource` of one backtest day: macro and candidates replayed from the store's
    dated history or recomputed from that day's data (`dated`), and the technical agent's
    analysis of the visible bars. With `documents`, macro and candidates come from it
    instead (the parity test gives both runs the same documents)."""

    def __init__(self, market: AsOfMarket, universe: Sequence[str], calendar: KrxCalendar,
                 names: Callable[[str], str], dated: DayInputSource,
                 documents: InputSource | None = None) -> None:
        self.market = market
        self.universe = list(universe)
        self.calendar = calendar
        self.names = names
        self.dated = dated
        self.documents = documents
        self.produced: list[str] = []

    async def macro(self, now: datetime) -> MacroRead:
        if self.documents is not None:
            return await self.documents.macro(now)
        return self.dated.macro(now)

    async def candidates(self, now: datetime) -> CandidatesRead:
        if self.documents is not None:
            return await self.documents.candidates(now)
        return self.dated.candidates(now, self.listed)

    def listed(self) -> list[CandidateInfo]:
        """The universe's tickers listed on the day and trading in the cutoff session: no
        survivorship, no future listings."""
        return [CandidateInfo(t, self.names(t), None, None)
                for t in self.universe if self.market.quote(t) is not None]

    async def technical(self, tickers: Sequence[str], now: datetime) -> TechnicalRead:
        results = await analyze_tickers(self.market, None, tickers, [Period.DAY], now,
                                        env="backtest", calendar=self.calendar)
        views, failed = {}, {}
        for r in results:
            day = r.periods.get(Period.DAY.value) if r.ok else None
            if day is None:
                failed[r.code] = r.error or "no daily analysis"
            else:
                views[r.code] = analysis_view(day)
        return TechnicalRead(views, {}, failed)


class _NoLedger:
    """Nothing is spent in a rules backtest."""

    def spent_on(self, day: date) -> float:
        return 0.0

    def record(self, day: date, usage: Usage, run_id: str) -> None:
        return None


@dataclass(frozen=True)
class IndexBenchmark:
    """An index to compare against (KOSPI from KIS's index chart): its name and bars."""

    name: str
    bars: tuple[IndexBar, ...]

    def close_on(self, day: date) -> Decimal | None:
        """The close of the last session through `day` (None before the first)."""
        i = bisect.bisect_right([b.day for b in self.bars], day)
        return self.bars[i - 1].close if i else None

    def open_on(self, day: date) -> Decimal | None:
        """The open of `day`'s session, else the last close before it."""
        for b in self.bars:
            if b.day == day:
                return b.open
        return self.close_on(day)


#: What a run compares against: the KOSPI index (KIS's index chart), or an equal-weight
#: buy-and-hold of the universe (the fallback when the index cannot be had).
BENCHMARKS = ("kospi", "equal-weight")
EQUAL_WEIGHT = "equal-weight buy-and-hold of the universe (before costs)"

#: `rules`: the rule engine decides every day. `llm-replay`: recorded LLM answers, found by
#: the hash of the day's prompt; a day without one is decided by the rules, and says so.
ENGINES = ("rules", "llm-replay")


@dataclass(frozen=True)
class Settings:
    """What a run was asked for."""

    start: date
    end: date
    universe: tuple[str, ...]
    decision_time: time = REGULAR_CLOSE
    cash: int = 100_000_000
    engine: str = "rules"
    participation: Decimal = PARTICIPATION
    constraints: Constraints = field(default_factory=Constraints)
    exit_rules: ExitRules = field(default_factory=ExitRules)
    benchmark: str = "kospi"

    def __post_init__(self) -> None:
        if self.benchmark not in BENCHMARKS:
            raise InputError(f"benchmark {self.benchmark!r}: choose "
                             f"{' or '.join(BENCHMARKS)}")
        if REGULAR_OPEN <= self.decision_time < REGULAR_CLOSE:
            raise InputError(f"decision time {self.decision_time:%H:%M}: a backtest has daily "
                             "bars only, so it decides before 09:00 (filled at that open) or "
                             "from 15:30 (filled at the next open)")
        if self.engine not in ENGINES:
            raise InputError(f"engine {self.engine!r}: choose {' or '.join(ENGINES)}")
        if self.start > self.end:
            raise InputError("--from is after --to")

    @classmethod
    def of(cls, s: RunSettings) -> Settings:
        """Settings as a stored run recorded them (for `--resume`)."""
        return cls(start=s.start, end=s.end, universe=tuple(s.universe),
                   decision_time=time.fromisoformat(s.decision_time), cash=s.cash_krw,
                   engine=s.engine, participation=s.participation,
                   constraints=s.constraints, benchmark=s.benchmark,
                   exit_rules=ExitRules(s.stop_loss_pct, s.take_profit_pct))

    def model(self) -> RunSettings:
        """The settings as a stored run records them."""
        return RunSettings(start=self.start, end=self.end, universe=list(self.universe),
                           decision_time=self.decision_time.strftime("%H:%M"),
                           cash_krw=self.cash, engine=self.engine,
                           participation=self.participation, constraints=self.constraints,
                           stop_loss_pct=self.exit_rules.stop_loss_pct,
                           take_profit_pct=self.exit_rules.take_profit_pct,
                           benchmark=self.benchmark)


@dataclass(frozen=True)
class Pending:
    """An order that passed the pre-trade stage, waiting for its fill session."""

    order: PlanOrder


@dataclass
class DayRecord:
    """One session of the run."""

    day: date
    engine: str
    value: int
    cash: int
    invested: int
    benchmark: int
    fills: list[Fill]
    refused: list[str]
    decision: DecisionInput | None = None
    inputs: DayInputs = field(default_factory=DayInputs)
    universe_size: int | None = None

    def entry(self) -> DayEntry:
        """The session as a stored run records it."""
        return DayEntry(day=self.day, engine=self.engine, value_krw=self.value,
                        cash_krw=self.cash, invested_krw=self.invested,
                        benchmark_krw=self.benchmark,
                        fills=[FillEntry(ticker=f.ticker, side=f.side.value, ordered=f.ordered,
                                         qty=f.qty, price=f.price, commission=f.commission,
                                         tax=f.tax, note=f.reason) for f in self.fills],
                        refused=self.refused, inputs=self.inputs,
                        universe_size=self.universe_size)


@dataclass(frozen=True)
class Decided:
    """One day's plans: the exits' orders, the decision's, the engine and its input."""

    exits: list[PlanOrder]
    decided: list[PlanOrder]
    engine: str
    decision: DecisionInput | None
    inputs: DayInputs = field(default_factory=DayInputs)

    @property
    def orders(self) -> list[PlanOrder]:
        """Exits first (sells), then the decision: the owner refuses a second sell."""
        return [*self.exits, *self.decided]


def _fill_of(f: FillEntry, day: date) -> Fill:
    return Fill(Side(f.side), f.ticker, day, f.ordered, f.qty, f.price, f.commission, f.tax,
                f.note)


class _Recording:
    """The rule engine, keeping the decision input it was given (the look-ahead test's
    witness of what a day's decision saw)."""

    def __init__(self, inner: RuleDecider, seen: list[DecisionInput]) -> None:
        self.inner = inner
        self.seen = seen

    def decide_now(self, request: DecisionInput) -> EngineAnswer:
        self.seen.append(request)
        return self.inner.decide_now(request)


class Backtest:
    """One run's state, advanced a session at a time (`step`); state changes only at the
    end of a step, so an interrupted step leaves the last completed session intact."""

    def __init__(self, settings: Settings, panel: BarPanel, calendar: KrxCalendar,
                 store: Store, rules: RuleDeciderFactory, names: Callable[[str], str],
                 documents: InputSource | None = None, llm: DecisionLLM | None = None,
                 dated: DayInputSource | None = None,
                 listings: Mapping[str, Listing] | None = None,
                 index: IndexBenchmark | None = None, index_note: str = "") -> None:
        self.settings = settings
        # The index compared against (None: the equal-weight buy-and-hold), and why it is
        # not the one asked for when so.
        self.index = index if settings.benchmark == "kospi" else None
        self.index_note = index_note
        # Listing and delisting dates where known (a ticker without them is listed while it
        # has bars).
        self.listings = dict(listings or {})
        # Without a dated history or macro series: every day recomputed, macro uncertain.
        self.dated = dated if dated is not None else DayInputSource(None, None)
        self.llm = llm
        self.documents = documents
        self.panel = panel
        self.calendar = calendar
        self.store = store
        self.rules = rules
        self.names = names
        self.book = Book(settings.cash)
        self.pending: list[Pending] = []
        self.days: list[DayRecord] = []
        self.sessions = calendar.between(settings.start, settings.end)
        if not self.sessions:
            raise InputError(f"no KRX session between {settings.start} and {settings.end}")
        self._bench: dict[str, Decimal] = {}

    def state(self) -> BookState:
        """What `--resume` needs beyond the days: the book and the orders awaiting a fill."""
        return BookState(cash_krw=self.book.cash,
                         holdings={t: (h.qty, h.avg_price)
                                   for t, h in self.book.holdings.items()},
                         prices=dict(self.book.prices),
                         pending=[p.order for p in self.pending])

    def restore(self, run: BacktestRun) -> None:
        """Continue a stored run after its last completed session; InputError when its bars
        have changed since."""
        if run.data.fingerprints != self.panel.fingerprint():
            raise InputError(f"backtest {run.id}: the bars differ from the stored run's "
                             "(the bar store changed); start a new run")
        state = run.state
        self.book = Book(state.cash_krw,
                         {t: Holding(q, a) for t, (q, a) in state.holdings.items()},
                         dict(state.prices))
        self.pending = [Pending(o) for o in state.pending]
        self.days = [DayRecord(d.day, d.engine, d.value_krw, d.cash_krw, d.invested_krw,
                               d.benchmark_krw, [_fill_of(f, d.day) for f in d.fills],
                               d.refused, inputs=d.inputs, universe_size=d.universe_size)
                     for d in run.days]

    def listed_on(self, code: str, day: date) -> bool:
        """Whether `code` was listed on `day`, as far as its dates are known."""
        listing = self.listings.get(code)
        return listing is None or listing.listed_on(day)

    def universe_on(self, day: date) -> list[str]:
        """The universe as listed on `day`."""
        return [c for c in self.settings.universe if self.listed_on(c, day)]

    def delisted(self) -> dict[str, date]:
        """The universe's tickers known to be delisted, with the first day they were not."""
        return {c: x.delisted for c, x in sorted(self.listings.items())
                if x.delisted is not None and c in self.settings.universe}

    @property
    def before_open(self) -> bool:
        return self.settings.decision_time < REGULAR_OPEN

    def remaining(self) -> list[date]:
        done = len(self.days)
        return self.sessions[done:]

    async def decide(self, day: date, book: Book) -> Decided:
        """The day's rebalance (stop-loss/take-profit) and decision, as `quartz rebalance
        --dry-run` and `quartz decide --dry-run` would plan them then."""
        last = self.calendar.previous(day) if self.before_open else day
        if last is None:
            return Decided([], [], "none", None)
        now = datetime.combine(day, self.settings.decision_time, KST)
        market = AsOfMarket(self.panel, last)
        seen: list[DecisionInput] = []
        self.dated.start_day()
        deps = PortfolioDeps(
            env="backtest", store=self.store,
            inputs=BacktestInputs(market, self.universe_on(day), self.calendar, self.names,
                                  self.dated, self.documents),
            market=market, account=book, calendar=self.calendar, now=lambda: now,
            constraints=self.settings.constraints, exit_rules=self.settings.exit_rules,
            names=self.names, rules=lambda why: _Recording(self.rules(why), seen),
            ledger=_NoLedger(), engine=self.llm, configured_reason="backtest: rules engine")
        exits = await run_rebalance(deps, dry_run=True)
        plan: DecisionPlan = await run_decide(deps, dry_run=True)
        engine = plan.engine.name if plan.engine else "none"
        if plan.engine and plan.engine.fallback not in (None, Fallback.CONFIGURED.value):
            engine += f" ({plan.engine.fallback}: {plan.engine.detail})"
        return Decided(list(exits.orders), list(plan.orders), engine, seen[0] if seen else None,
                       self.dated.used)

    def pretrade(self, orders: list[PlanOrder], fill_day: date, book: Book
                 ) -> tuple[list[Pending], list[str]]:
        """The owner's pre-trade stage over the day's orders, in order, each seeing the
        ones before it in flight (a position is never sold twice)."""
        moment = datetime.combine(fill_day, REGULAR_OPEN, KST)
        window = check_order_window(moment, self.calendar)
        flying: list[InFlight] = []
        ok: list[Pending] = []
        refused: list[str] = []
        value = book.value()
        positions = tuple(HeldPosition(t, h.qty, book.prices.get(t, h.avg_price))
                          for t, h in sorted(book.holdings.items()))
        for o in orders:
            quote = self.pre_open_quote(o.ticker, fill_day)
            if quote is None:
                refused.append(f"{o.side.value} {o.ticker}: no quote")
                continue
            request = OrderRequest(request_id=o.request_id, side=o.side, ticker=o.ticker,
                                   qty=o.qty, order_type=OrderType.LIMIT, price=o.limit_price,
                                   timestamp=moment)
            state = AccountState(cash_krw=book.cash, positions=positions,
                                 in_flight=tuple(flying), start_of_day_value=value,
                                 filled_today_krw=0)
            facts = MarketFacts(quote=quote, window=window,
                                listed=o.ticker in self.panel.bars
                                and self.listed_on(o.ticker, fill_day))
            why = check_order(request, state, facts, Limits(self.settings.constraints))
            if why:
                refused.append(f"{o.side.value} {o.ticker}: {why[0].code} {why[0].detail}")
                continue
            flying.append(InFlight(o.request_id, o.side, o.ticker, o.qty, o.limit_price))
            ok.append(Pending(o))
        return ok, refused

    def pre_open_quote(self, code: str, day: date) -> Quote | None:
        """The quote before `day`'s open: the previous close, and the day's limits around
        it (None when the ticker has no bar before)."""
        prev = self.calendar.previous(day)
        bars = self.panel.upto(code, prev) if prev and code in self.panel.bars else []
        if not bars:
            return None
        base = bars[-1].close
        lim = price_limits(base)
        return Quote(ticker=code, price=base, base=base, upper=lim.upper, lower=lim.lower)

    def _fill(self, day: date, pending: list[Pending], book: Book) -> list[Fill]:
        prev = self.calendar.previous(day)
        settles = day
        for _ in range(SETTLEMENT_SESSIONS):
            settles = self.calendar.next(settles) or settles + timedelta(days=1)
        fills = []
        for p in pending:
            o = p.order
            bar = self.panel.on(o.ticker, day)
            before = self.panel.upto(o.ticker, prev) if prev else []
            base = before[-1].close if before else (bar.open if bar else o.limit_price)
            f = fill_day_order(o.side, o.ticker, o.qty, o.limit_price, bar, base, day, settles,
                               self.settings.participation)
            book.apply(f)
            fills.append(f)
        return fills

    def _mark(self, day: date, book: Book) -> None:
        for code in book.holdings:
            bars = self.panel.upto(code, day)
            if bars:
                book.prices[code] = bars[-1].close

    def benchmark_name(self) -> str:
        """What the run compares against, with the reason when it fell back."""
        if self.index is not None:
            return self.index.name
        note = f" ({self.index_note})" if self.index_note else ""
        return EQUAL_WEIGHT + note

    def _benchmark(self, day: date) -> int:
        """The start cash in the index from the first session's open, else the equal-weight
        buy-and-hold of the universe from that open (the start cash × the mean of each
        ticker's close over it); both before costs."""
        if self.index is not None:
            base = self.index.open_on(self.sessions[0])
            close = self.index.close_on(day)
            if base and close is not None:
                return int(self.settings.cash * close / base)
            return self.settings.cash
        if not self._bench:
            first = self.sessions[0]
            for code in self.settings.universe:
                b = self.panel.on(code, first)
                if b is not None and b.open > 0:
                    self._bench[code] = Decimal(b.open)
        if not self._bench:
            return self.settings.cash
        total = Decimal(0)
        for code, start in self._bench.items():
            bars = self.panel.upto(code, day)
            total += Decimal(bars[-1].close) / start if bars else Decimal(1)
        return int(self.settings.cash * total / len(self._bench))

    async def step(self, day: date) -> DayRecord:
        """Run one session: a before-open decision and its fills at the open, or the fills
        of yesterday's after-close decision and today's decision; then the close."""
        book = Book(self.book.cash, {t: Holding(h.qty, h.avg_price)
                                     for t, h in self.book.holdings.items()},
                    dict(self.book.prices))
        pending = list(self.pending)
        refused: list[str] = []
        engine, decision, inputs = "none", None, DayInputs()
        if self.before_open:
            d = await self.decide(day, book)
            engine, decision, inputs = d.engine, d.decision, d.inputs
            pending, refused = self.pretrade(d.orders, day, book)
        fills = self._fill(day, pending, book)
        self._mark(day, book)
        pending = []
        if not self.before_open:
            d = await self.decide(day, book)
            engine, decision, inputs = d.engine, d.decision, d.inputs
            nxt = self.calendar.next(day)
            if nxt is not None and d.orders:
                pending, refused = self.pretrade(d.orders, nxt, book)
        record = DayRecord(day, engine, book.value(), book.cash, book.invested(),
                           self._benchmark(day), fills, refused, decision, inputs,
                           len(self.universe_on(day)))
        # Commit: nothing above changed the run's state.
        self.book, self.pending = book, pending
        self.days.append(record)
        return record




def run_id(settings: Settings, started: datetime) -> str:
    """`bt-20261129T062000-20250102-20251230`: sortable by when it ran, naming its range."""
    return (f"bt-{started.astimezone(KST):%Y%m%dT%H%M%S}-{settings.start:%Y%m%d}-"
            f"{settings.end:%Y%m%d}")


def report_document(bt: Backtest, *, run: str, produced_at: datetime, interrupted: bool,
                    env: str = "local", source: str = "") -> BacktestRun:
    """The stored and printed document of a run (shape: docs/backtest.md)."""
    from quartz_cli.domain.performance import Performance, performance

    days = bt.days
    equity = [bt.settings.cash, *(d.value for d in days)]
    invested = [0, *(d.invested for d in days)]
    bench = [bt.settings.cash, *(d.benchmark for d in days)]
    fills = [f for d in days for f in d.fills]
    # Per engine, how many sessions it decided (a fallback's reason is on its day).
    engines: dict[str, int] = {}
    for d in days:
        engines[d.engine.split(" (")[0]] = engines.get(d.engine.split(" (")[0], 0) + 1
    last = days[-1].day.isoformat() if days else None
    status = "complete" if len(days) == len(bt.sessions) else (
        f"interrupted after {last or 'no session'} ({len(days)} of {len(bt.sessions)} "
        "sessions)" if interrupted else "partial")

    def figures(curve: list[int], traded: list[Fill], held: list[int] | None = None
                ) -> Performance | None:
        return performance(curve, traded, held) if days else None

    return BacktestRun(
        id=run, produced_at=produced_at, env=env, status=status, sessions_done=len(days),
        sessions_total=len(bt.sessions), source=source, settings=bt.settings.model(),
        data=DataFingerprints(fingerprints=bt.panel.fingerprint(), delisted=bt.delisted(),
                              benchmark=index_fingerprint(bt.index.bars) if bt.index else None),
        inputs=inputs_used(days),
        engines=engines, performance=figures(equity, fills, invested),
        benchmark=Benchmark(name=bt.benchmark_name(), performance=figures(bench, [])),
        days=[d.entry() for d in days], state=bt.state())


def inputs_used(days: Sequence[DayRecord]) -> InputsUsed:
    """Over the run, how many sessions replayed or recomputed each input."""
    n = len(days)
    macro = sum(1 for d in days if d.inputs.macro == "replayed")
    unknown = sum(1 for d in days if d.inputs.macro == "uncertain")
    cands = sum(1 for d in days if d.inputs.candidates == "replayed")
    replayed = [f"{what} ({k} of {n} sessions, the store's dated documents)"
                for what, k in (("macro", macro), ("candidates", cands)) if k]
    recomputed = [f"technical ({n} of {n} sessions, from the bars)"]
    if n - macro - unknown:
        recomputed.append(f"macro ({n - macro - unknown} of {n} sessions, rules over the "
                          "series known that day)")
    if unknown:
        recomputed.append(f"macro ({unknown} of {n} sessions uncertain: no document and no "
                          "series known that day)")
    if n - cands:
        recomputed.append(f"candidates ({n - cands} of {n} sessions, the universe listed "
                          "that day, no news scores)")
    return InputsUsed(replayed=replayed, recomputed=recomputed)


def store_run(store: Store, run: BacktestRun, chart_png: bytes | None) -> str:
    """Write a run under `backtests/<id>/` (blocking); returns the document's key."""
    key = f"{PREFIX}/{run.id}/run.json"
    run.stored = key
    store.put(key, run.model_dump_json(indent=1).encode())
    if chart_png is not None:
        store.put(f"{PREFIX}/{run.id}/chart.png", chart_png)
    return key


def run_ids(store: Store) -> list[str]:
    """The stored runs' ids, oldest first (an id starts with when it ran)."""
    return sorted({k.split("/")[1] for k in store.list(f"{PREFIX}/")
                   if k.endswith("/run.json")})


def read_run(store: Store, run: str) -> BacktestRun:
    """A stored run; InputError naming the stored ids when there is none."""
    from quartz_cli.agents.documents import read_key

    doc = read_key(store, f"{PREFIX}/{run}/run.json", BacktestRun)
    if doc is None:
        ids = run_ids(store)
        raise InputError(f"no stored backtest {run!r}",
                         hint=f"stored: {', '.join(ids[-5:])}" if ids else "none stored yet")
    return doc


def read_chart(store: Store, run: str) -> bytes | None:
    """A stored run's PNG chart, None when it has none."""
    return store.get(f"{PREFIX}/{run}/chart.png")
