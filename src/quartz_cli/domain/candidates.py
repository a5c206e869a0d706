"""The selection agent's output: ranked candidates with their score components and the
articles behind them. Stored under `candidates/` (pointer `candidates/latest.json`)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from quartz_cli.domain.documents import Document

PREFIX = "candidates"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreComponents(_Model):
    """See `quartz_cli.domain.scoring` for definitions and ranges."""

    market_cap_tier: float = Field(ge=0, le=1)
    sentiment: float = Field(ge=-1, le=1)
    news_count_norm: float = Field(ge=0, le=1)
    priority: float = Field(ge=0, le=1)


class ArticleRef(_Model):
    """An article behind a candidate (headline, link, time; not the full text)."""

    title: str
    url: str
    source: str
    also_in: list[str] = []
    published_at: datetime | None = None
    sentiment: float = Field(ge=-1, le=1)
    reason: str
    engine: str
    sentence: str


class Candidate(_Model):
    rank: int = Field(ge=1)
    code: str = Field(pattern=r"^[0-9A-Z]{6}$")
    name: str
    market: str
    tier: str
    sector: str
    score: float
    components: ScoreComponents
    news_count: int = Field(ge=1)
    top_articles: list[ArticleRef]


class SourceState(str, Enum):
    """A news source's state in a selection run."""

    FRESH = "fresh"              # crawled, with articles in the window
    STALE = "stale"              # answered, but nothing published in the window
    UNREACHABLE = "unreachable"  # an outage: no answer, a timeout, HTTP 5xx (robots.txt too)
    FORBIDDEN = "forbidden"      # robots.txt forbids the path: a policy, not an outage
    FAILED = "failed"            # answered, but nothing usable (HTTP 4xx, a page not parsed)


# Documents written before the states were told apart.
_OLD_STATES = {"ok": SourceState.FRESH, "blocked": SourceState.FORBIDDEN}


class NewsSourceStatus(_Model):
    """How one news source fared (`SourceState`). Not the macro agent's
    `domain.macro.SourceStatus`, which tracks data series."""

    source: str
    status: SourceState
    articles: int
    error: str | None = None
    notes: list[str] = Field(default_factory=list)

    @field_validator("status", mode="before")
    @classmethod
    def _read_old(cls, value: object) -> object:
        return _OLD_STATES.get(value, value) if isinstance(value, str) else value


class CandidatesDocument(Document):
    """`candidates/…`: the ranked candidates of one selection run."""

    weights: dict[str, float]
    sentiment_engines: list[str]
    window_hours: float
    universe_size: int
    articles: int
    articles_matched: int
    duplicates_dropped: int
    llm_items_dropped: int = 0
    sources: list[NewsSourceStatus]
    candidates: list[Candidate]
    synthetic_news: bool = False
    notes: list[str] = Field(default_factory=list)
