"""What the portfolio manager decides over: the decision input (the seed's structure), the
engines' proposals, and the pre-computed allowance that bounds what an engine may choose.

Everything here is a pure value: engines (rules or an LLM) read a `DecisionInput` and answer
`Proposal`s; the risk gate (`domain.risk`) turns proposals into orders.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError

from quartz_cli.domain.orders import Side

# How engines and the plan spell a decision that trades nothing. A hold is not a side: in
# Python it is a proposal whose side is None.
HOLD = "HOLD"
DECISION_WORDS = (Side.BUY.value, Side.SELL.value, HOLD)


def decision_word(side: Side | None) -> str:
    """BUY, SELL or HOLD: a decision as engines answer it and the plan prints it."""
    return HOLD if side is None else side.value


def _decision_in(value: object) -> Side | None:
    if value is None or isinstance(value, Side):
        return value
    if value == HOLD:
        return None
    try:
        return Side(value)
    except ValueError:
        raise PydanticCustomError("enum", "Input should be 'BUY', 'SELL' or 'HOLD'",
                                  {"expected": "'BUY', 'SELL' or 'HOLD'"}) from None


# A decision's side as engines answer it: BUY, SELL, or HOLD (None).
DecisionSide = Annotated[Side | None, PlainValidator(_decision_in, json_schema_input_type=str),
                         PlainSerializer(decision_word, return_type=str)]


def _sides_with_hold(sides: tuple[Side, ...]) -> list[str]:
    return [HOLD, *(s.value for s in sides)]


def _sides_without_hold(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return tuple(v for v in value if v != HOLD)
    return value


class MacroBias(str, Enum):
    """The macro agent's market bias hint (its vocabulary); `uncertain` when its summary is
    stale or missing."""

    BULLISH = "bullish"
    NEUTRAL = "neutral"
    BEARISH = "bearish"
    UNCERTAIN = "uncertain"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MacroSummaryView(_Frozen):
    """`macro` of the decision input: the macro agent's summary (`domain.macro.MacroSummary`)
    reduced to what engines read, with its staleness."""

    positive_summary: str = ""
    negative_summary: str = ""
    market_bias_hint: MacroBias = MacroBias.UNCERTAIN
    stale: bool = Field(default=True, description="True when the summary is missing or too old")


class Position(_Frozen):
    """One holding as the decision reads it: derived from the broker's
    `domain.account.BrokerPosition` (whole-won average price; the price is refreshed from the
    quote when there is one)."""

    ticker: str
    name: str = ""
    qty: int = Field(ge=0)
    sellable_qty: int = Field(ge=0, description="what may be sold now")
    avg_price: int = Field(ge=0, description="average purchase price, won")
    price: int = Field(ge=0, description="current price, won")

    @property
    def value(self) -> int:
        return self.qty * self.price


class PortfolioView(_Frozen):
    """`portfolio` of the decision input: orderable cash, total value, positions."""

    cash_krw: int = Field(ge=0, description="cash available to order with, won")
    positions: tuple[Position, ...] = ()

    @property
    def total_value(self) -> int:
        return self.cash_krw + sum(p.value for p in self.positions)

    def position(self, ticker: str) -> Position | None:
        for p in self.positions:
            if p.ticker == ticker:
                return p
        return None

    def weight(self, ticker: str) -> float:
        total = self.total_value
        pos = self.position(ticker)
        return pos.value / total if pos and total else 0.0


class TechnicalView(_Frozen):
    """The technical agent's daily state of one ticker, reduced to what the engines read.
    Every field is optional: an indicator without enough history is simply absent."""

    close: int | None = None
    rsi14: float | None = None
    macd_hist: float | None = None
    bb_percent_b: float | None = Field(default=None, description="Bollinger %B (0 lower, 1 upper)")
    sma5: float | None = None
    sma20: float | None = None
    ma_alignment: Literal["bullish", "bearish", "mixed"] | None = Field(
        default=None, description="SMA5 > SMA10 > SMA20 (bullish), the reverse (bearish)")
    signals: tuple[str, ...] = Field(default=(), description="the technical agent's phrases")


class FundamentalView(_Frozen):
    """What selection knows about a ticker: its news sentiment and score."""

    sentiment: float | None = Field(default=None, ge=-1, le=1,
                                    description="news sentiment in [-1, 1]")
    score: float | None = Field(default=None, description="the selection agent's ranking score")
    news_count: int = Field(default=0, ge=0, description="articles naming the ticker")
    candidate: bool = Field(default=False, description="True when selection proposed it")


class Quote(_Frozen):
    """A ticker's current price and the day's limits (won)."""

    ticker: str
    price: int = Field(gt=0)
    base: int = Field(gt=0, description="base price (previous close) of the ±30 % limit")
    upper: int = Field(gt=0, description="upper limit price (상한가)")
    lower: int = Field(gt=0, description="lower limit price (하한가)")
    volume: int = Field(default=0, ge=0, description="shares traded today so far")
    # Today's open, high and low so far, when the quote carries them: the bar store builds
    # today's partial bar from them.
    open: int | None = Field(default=None, gt=0, description="today's first trade")
    high: int | None = Field(default=None, gt=0, description="today's highest trade so far")
    low: int | None = Field(default=None, gt=0, description="today's lowest trade so far")


class Allowance(_Frozen):
    """What code allows an engine to choose for one ticker, computed before it is asked.
    HOLD is always allowed; `sides` are the trades that are. Engines read them as `actions`
    (HOLD first)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    sides: Annotated[tuple[Side, ...], BeforeValidator(_sides_without_hold),
                     PlainSerializer(_sides_with_hold, return_type=list[str])] = Field(
        alias="actions")
    max_buy_qty: int = 0
    max_sell_qty: int = 0
    max_weight: float = 0.0
    reason: str = ""


class UniverseEntry(_Frozen):
    """One analysed ticker of the decision input."""

    ticker: str
    name: str
    price: int
    technical: TechnicalView | None = None
    fundamental: FundamentalView = FundamentalView()
    held_qty: int = 0
    weight: float = 0.0
    allowed: Allowance


class Constraints(_Frozen):
    """The limits the gate enforces. Rates are Decimal fractions (0.00015 = 0.015 %)."""

    max_buy_candidates: int = Field(default=3, ge=0)
    max_single_ticker_weight: Decimal = Field(default=Decimal("0.2"), gt=0, le=1)
    min_order_krw: int = Field(default=100_000, ge=0)
    max_turnover_ratio: Decimal = Field(default=Decimal("0.3"), gt=0, le=1)
    buy_fee_rate: Decimal = Field(default=Decimal("0.00015"), ge=0, lt=1)
    sell_fee_rate: Decimal = Field(default=Decimal("0.00015"), ge=0, lt=1)
    sell_tax_rate: Decimal = Field(default=Decimal("0.0020"), ge=0, lt=1)

    @field_validator("max_single_ticker_weight", "max_turnover_ratio", "buy_fee_rate",
                     "sell_fee_rate", "sell_tax_rate", mode="before")
    @classmethod
    def _decimal(cls, v: object) -> object:
        # floats from the environment become their shortest decimal text, not binary noise.
        return Decimal(str(v)) if isinstance(v, float) else v


class DecisionInput(_Frozen):
    """The seed's decision input: `now_utc`, `macro`, `portfolio`, `universe`, `constraints`."""

    now_utc: datetime
    macro: MacroSummaryView
    portfolio: PortfolioView
    universe: tuple[UniverseEntry, ...]
    constraints: Constraints

    def entry(self, ticker: str) -> UniverseEntry | None:
        for e in self.universe:
            if e.ticker == ticker:
                return e
        return None


class Proposal(_Frozen):
    """One engine decision for one ticker: a trade (`side` BUY or SELL) or a hold (`side`
    None). The gate treats it as untrusted input."""

    ticker: str
    side: Side | None
    target_weight: float = Field(description="target share of total value after the trade")
    confidence: float = 0.5
    rationale: str = ""
