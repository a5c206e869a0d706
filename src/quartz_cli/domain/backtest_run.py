"""A stored backtest run (`backtests/<id>/run.json`): its settings, the fingerprints of the
data it read, each session's record and the report's figures. The JSON keys are the ones
docs/backtest.md lists (readers such as the dashboard rely on them)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quartz_cli.domain.decision import Constraints
from quartz_cli.domain.documents import Document
from quartz_cli.domain.performance import Performance
from quartz_cli.domain.plan import PlanOrder

PREFIX = "backtests"


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunSettings(_M):
    """What a run was asked for (`from` and `to` in JSON)."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    start: date = Field(alias="from")
    end: date = Field(alias="to")
    universe: list[str]
    decision_time: str = Field(pattern=r"^\d\d:\d\d$", description="HH:MM KST")
    cash_krw: int = Field(gt=0)
    engine: str
    participation: Decimal
    constraints: Constraints
    stop_loss_pct: Decimal
    take_profit_pct: Decimal
    benchmark: str = Field("equal-weight", description="`kospi` or `equal-weight`")


class DataFingerprints(_M):
    """What the run read: per ticker a hash of its bars, and of the benchmark's series; the
    universe's tickers known to be delisted (with the first day they were not listed)."""

    fingerprints: dict[str, str]
    benchmark: str | None = None
    delisted: dict[str, date] = Field(default_factory=dict)


class InputsUsed(_M):
    """Over the whole run, which decision inputs were replayed from the store's dated
    documents and which were recomputed (each with how many sessions)."""

    replayed: list[str]
    recomputed: list[str]


class Benchmark(_M):
    name: str
    # The report's figures, stored with the dataclass's field names.
    performance: Performance | None


class FillEntry(_M):
    """One order's fill (`qty` 0: not filled, `note` says why)."""

    ticker: str
    side: Literal["BUY", "SELL"]
    ordered: int
    qty: int
    price: int
    commission: int
    tax: int
    note: str


class DayInputs(_M):
    """Where a session's macro and candidates came from: `replayed` (the store's dated
    document, named by `*_key`) or `recomputed` (from the data of that day); macro is
    `uncertain` when there was neither a document nor any series to recompute it from."""

    macro: Literal["replayed", "recomputed", "uncertain"] = "recomputed"
    macro_key: str | None = None
    candidates: Literal["replayed", "recomputed"] = "recomputed"
    candidates_key: str | None = None


class DayEntry(_M):
    day: date
    engine: str
    value_krw: int
    cash_krw: int
    invested_krw: int
    benchmark_krw: int
    fills: list[FillEntry]
    refused: list[str]
    inputs: DayInputs = Field(default_factory=DayInputs)
    universe_size: int | None = None


class BookState(_M):
    """What `--resume` continues from: the book and the orders awaiting their fill."""

    cash_krw: int
    holdings: dict[str, tuple[int, int]] = Field(description="code: [qty, avg price]")
    prices: dict[str, int]
    pending: list[PlanOrder]


class BacktestRun(Document):
    """One run, complete or not (`status`)."""

    kind: Literal["backtest"] = "backtest"
    id: str
    status: str
    sessions_done: int
    sessions_total: int
    source: str = ""
    stored: str = ""
    settings: RunSettings
    data: DataFingerprints
    inputs: InputsUsed
    engines: dict[str, int]
    performance: Performance | None
    benchmark: Benchmark
    state: BookState
    days: list[DayEntry]

    @model_validator(mode="before")
    @classmethod
    def _first_runs(cls, value: Any) -> Any:
        # Runs stored before the document was typed carried no env.
        if isinstance(value, dict) and "env" not in value:
            return {**value, "env": "unknown"}
        return value

    @property
    def complete(self) -> bool:
        return self.sessions_done == self.sessions_total


class RunSummary(_M):
    """One line of `quartz backtest list`."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    id: str
    status: str
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    tickers: int
    engine: str
    benchmark: str
    total_return: float | None
    benchmark_return: float | None
    sharpe: float | None
    max_drawdown: float | None

    @classmethod
    def of(cls, run: BacktestRun) -> RunSummary:
        """The summary of a stored run."""
        p, b = run.performance, run.benchmark.performance
        return cls(id=run.id, status=run.status, start=run.settings.start,
                   end=run.settings.end, tickers=len(run.settings.universe),
                   engine=run.settings.engine, benchmark=run.benchmark.name,
                   total_return=p.total_return if p else None,
                   benchmark_return=b.total_return if b else None,
                   sharpe=p.sharpe if p else None,
                   max_drawdown=p.max_drawdown if p else None)
