"""The macro view: which series Quartz follows, their statistics, and the two documents the
macro agent publishes under `macro-analysis/` (the full report and the summary the portfolio
agent reads)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from quartz_cli.domain.documents import Document

SourceName = Literal["ecos", "fred", "worldbank"]
Bias = Literal["bullish", "bearish", "neutral", "uncertain"]
BIASES: tuple[Bias, ...] = ("bullish", "bearish", "neutral", "uncertain")
SOURCES: tuple[SourceName, ...] = ("ecos", "fred", "worldbank")
SOURCE_TITLES: dict[str, str] = {
    "ecos": "Bank of Korea ECOS",
    "fred": "FRED (St. Louis Fed)",
    "worldbank": "World Bank Indicators",
}
SOURCE_URLS: dict[str, str] = {
    "ecos": "https://ecos.bok.or.kr/",
    "fred": "https://fred.stlouisfed.org/",
    "worldbank": "https://data.worldbank.org/",
}

SUMMARY_SENTENCES = 10
PREFIX = "macro-analysis"
DEFAULT_MAX_AGE = timedelta(hours=24)


@dataclass(frozen=True)
class SeriesSpec:
    """One followed indicator. `change` says how its moves are read: `pp` (a rate, moves in
    percentage points) or `pct` (a level, moves in percent). Daily series are reduced to
    monthly values by `monthly` (`last` = end of month, `mean` = monthly average)."""

    id: str
    name: str
    source: SourceName
    unit: str
    frequency: Literal["D", "M", "A"]
    change: Literal["pp", "pct"]
    monthly: Literal["last", "mean"] = "last"


CATALOG: tuple[SeriesSpec, ...] = (
    SeriesSpec("kr.base_rate", "BOK base rate", "ecos", "%", "D", "pp", "last"),
    SeriesSpec("kr.cpi", "Korea CPI (2020=100)", "ecos", "index", "M", "pct"),
    SeriesSpec("kr.core_cpi", "Korea core CPI ex food & energy", "ecos", "index", "M", "pct"),
    SeriesSpec("kr.usdkrw", "KRW per USD", "ecos", "KRW", "D", "pct", "mean"),
    SeriesSpec("kr.exports", "Korea exports (customs)", "ecos", "USD thousand", "M", "pct"),
    SeriesSpec("kr.imports", "Korea imports (customs)", "ecos", "USD thousand", "M", "pct"),
    SeriesSpec("kr.household_loans", "Korea household loans", "ecos", "KRW billion", "M", "pct"),
    SeriesSpec("us.fed_funds", "US federal funds rate", "fred", "%", "M", "pp"),
    SeriesSpec("us.cpi", "US CPI-U", "fred", "index", "M", "pct"),
    SeriesSpec("us.core_cpi", "US core CPI", "fred", "index", "M", "pct"),
    SeriesSpec("world.gdp_growth", "World GDP growth", "worldbank", "%", "A", "pp"),
    SeriesSpec("us.gdp_growth", "US GDP growth", "worldbank", "%", "A", "pp"),
    SeriesSpec("kr.gdp_growth", "Korea GDP growth", "worldbank", "%", "A", "pp"),
    SeriesSpec("world.inflation", "World inflation", "worldbank", "%", "A", "pp"),
    SeriesSpec("us.inflation", "US inflation", "worldbank", "%", "A", "pp"),
    SeriesSpec("kr.inflation", "Korea inflation", "worldbank", "%", "A", "pp"),
)
SPECS: dict[str, SeriesSpec] = {s.id: s for s in CATALOG}


def specs_of(source: str) -> list[SeriesSpec]:
    """The catalogue's series that `source` provides."""
    return [s for s in CATALOG if s.source == source]


class Observation(BaseModel):
    """One dated value (the start of its period: a day, a month's 1st, or January 1st)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: date
    value: float


class SeriesData(BaseModel):
    """A series as collected: observations oldest first, and when they were fetched."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source: SourceName
    observations: list[Observation]
    fetched_at: datetime


def to_grid(spec: SeriesSpec, observations: list[Observation]) -> list[Observation]:
    """Put a series on its statistics grid: monthly for D/M series (daily values reduced by
    the spec's rule), yearly for annual ones. One value per period, oldest first."""
    if spec.frequency == "A":
        by_year = {date(o.date.year, 1, 1): o.value for o in observations}
        return [Observation(date=d, value=v) for d, v in sorted(by_year.items())]
    buckets: dict[date, list[float]] = defaultdict(list)
    for o in sorted(observations, key=lambda o: o.date):
        buckets[date(o.date.year, o.date.month, 1)].append(o.value)
    out = []
    for month, values in sorted(buckets.items()):
        value = values[-1] if spec.monthly == "last" else sum(values) / len(values)
        out.append(Observation(date=month, value=value))
    return out


def period_end(frequency: str, start: date) -> date:
    """The last day of the grid period that starts at `start` (monthly or annual)."""
    if frequency == "A":
        return date(start.year, 12, 31)
    nxt = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


class TurningPoint(BaseModel):
    """A peak or trough of a series (see macro_stats for the rule)."""

    model_config = ConfigDict(extra="forbid")

    date: date
    kind: Literal["peak", "trough"]
    value: float


class SeriesStats(BaseModel):
    """The statistics of one series. `pop` is the change over one period (month-on-month for
    monthly series; absent for annual ones), `yoy` over a year; both in the series' change
    unit (`pp` or `%`). Slopes are per period (month or year) over the last 3/6/12 periods;
    `zscore_5y` compares the latest value with the last five years."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    source: SourceName
    unit: str
    frequency: Literal["M", "A"]
    change_unit: Literal["pp", "%"]
    last_period: date
    latest: float
    pop: float | None = None
    yoy: float | None = None
    slope_3: float | None = None
    slope_6: float | None = None
    slope_12: float | None = None
    zscore_5y: float | None = None
    turning_points: list[TurningPoint] = Field(default_factory=list)
    data_age_days: int
    reused: bool = False


class SourceStatus(BaseModel):
    """How one source fared in a run. `fresh`: every series fetched now; `partial`: some
    failed; `failed`: none fetched now (the source is missing from this run). Failed series
    whose values from an earlier run were used are in `reused_series` (`reused_from` says
    when those were fetched, `age_hours` how old they are); the rest are `missing_series`."""

    model_config = ConfigDict(extra="forbid")

    source: SourceName
    state: Literal["fresh", "partial", "failed"]
    series: list[str] = Field(default_factory=list)
    reused_series: list[str] = Field(default_factory=list)
    missing_series: list[str] = Field(default_factory=list)
    error: str | None = None
    fetched_at: datetime | None = None
    reused_from: datetime | None = None
    age_hours: float | None = None
    latest_period: date | None = None
    data_age_days: int | None = Field(default=None, description="Days since the end of the "
                                      "source's most recent period among the series used.")


class CitedSource(BaseModel):
    """A source the report rests on: a data provider or a web page from search grounding."""

    model_config = ConfigDict(extra="forbid")

    title: str
    uri: str
    kind: Literal["data", "web"]


_SENTENCE_END = re.compile(r"[.!?]['\")\]]?$")
_SENTENCE_BREAK = re.compile(r"[.!?]\s+[A-Z0-9가-힣\"'(]")


def is_one_sentence(text: str) -> bool:
    """True if `text` is a single sentence: ends with . ! or ? and has no break inside."""
    t = text.strip()
    return bool(t) and bool(_SENTENCE_END.search(t)) and not _SENTENCE_BREAK.search(t)


class MacroView(BaseModel):
    """What the report engine (Gemini or the rule engine) must produce."""

    model_config = ConfigDict(extra="forbid")

    positive_view: str = Field(description="Markdown: the case that the macro backdrop supports "
                               "Korean equities, citing the statistics.")
    negative_view: str = Field(description="Markdown: the case that it threatens them.")
    positive_summary: str = Field(description="The positive view in one or two sentences.")
    negative_summary: str = Field(description="The negative view in one or two sentences.")
    summary: list[str] = Field(min_length=SUMMARY_SENTENCES, max_length=SUMMARY_SENTENCES,
                               description="Exactly ten sentences, one per item.")
    market_bias_hint: Bias

    @field_validator("summary")
    @classmethod
    def _sentences(cls, v: list[str]) -> list[str]:
        bad = [i + 1 for i, s in enumerate(v) if not is_one_sentence(s)]
        if bad:
            raise ValueError(f"summary items {bad} are not single sentences")
        return [s.strip() for s in v]

    @field_validator("positive_view", "negative_view", "positive_summary", "negative_summary")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()


class LLMUsage(BaseModel):
    """Tokens and estimated cost (USD) of the LLM calls behind a report."""

    model_config = ConfigDict(extra="forbid")

    model: str
    prompt_tokens: int
    output_tokens: int
    cost_usd: float


class MacroReport(Document):
    """`macro-analysis/…-full.json`: everything a run produced, including the series used
    (so a later run can reuse them when a source fails)."""

    sample_data: bool
    engine: str
    engine_notes: list[str] = Field(default_factory=list)
    llm_usage: LLMUsage | None = None
    view: MacroView
    cited_sources: list[CitedSource]
    sources: list[SourceStatus]
    stats: list[SeriesStats]
    series: list[SeriesData]


class MacroSummary(Document):
    """`macro-analysis/latest.json` → what the portfolio agent reads."""

    sample_data: bool
    engine: str
    engine_notes: list[str] = Field(default_factory=list)
    market_bias_hint: Bias
    positive_summary: str
    negative_summary: str
    summary: list[str]
    sources: list[SourceStatus]
    missing_sources: list[str]
    cited_sources: list[CitedSource]
    full_report_key: str | None = None

    @property
    def summary_text(self) -> str:
        """The ten sentences as one paragraph."""
        return " ".join(self.summary)
