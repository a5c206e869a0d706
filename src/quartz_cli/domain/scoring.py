"""The seed's candidate score:

    final_score = market_cap_tier·0.25 + sentiment·0.40 + news_count_norm·0.25 + priority·0.10

Components (each computed per ticker over one selection run):

=================  ==========  ===========================================================
component          range       definition
=================  ==========  ===========================================================
market_cap_tier    {0.3, 0.6,  the universe's market-cap tier: LARGE 1.0, MID 0.6, SMALL 0.3
                   1.0}        (KIS master 시가총액규모 1/2/3)
sentiment          [−1, 1]     mean of the per-article sentiment scores for the ticker
                               (Gemini, or the offline lexicon where Gemini was not used)
news_count_norm    (0, 1]      distinct articles mentioning the ticker ÷ the largest such
                               count among the tickers of the run
priority           [0, 1]      1.0 for tickers on the user's watchlist; otherwise the share of
                               the ticker's articles that name it in the headline (the
                               article is about the company, not a passing mention)
=================  ==========  ===========================================================

So final_score lies in [−0.325, 1.0]. The seed leaves the component scales open; the choices
above are Quartz's and are recorded in docs/selection.md."""

from __future__ import annotations

from dataclasses import dataclass

from quartz_cli.domain.universe import Tier

WEIGHTS = {"market_cap_tier": 0.25, "sentiment": 0.40, "news_count_norm": 0.25, "priority": 0.10}
TIER_VALUE = {Tier.LARGE: 1.0, Tier.MID: 0.6, Tier.SMALL: 0.3}


@dataclass(frozen=True)
class TickerEvidence:
    """What the run found for one ticker."""

    code: str
    tier: Tier
    sentiments: tuple[float, ...]
    headline_mentions: int
    watchlisted: bool = False

    @property
    def news_count(self) -> int:
        return len(self.sentiments)


@dataclass(frozen=True)
class Components:
    market_cap_tier: float
    sentiment: float
    news_count_norm: float
    priority: float

    def final(self) -> float:
        """The weighted sum, rounded to 6 decimals."""
        return round(sum(getattr(self, k) * w for k, w in WEIGHTS.items()), 6)


def components(ev: TickerEvidence, max_count: int) -> Components:
    """The four components of one ticker; `max_count` is the run's largest news count."""
    if ev.news_count == 0 or max_count <= 0:
        raise ValueError(f"{ev.code}: no articles to score")
    sentiment = sum(ev.sentiments) / ev.news_count
    priority = 1.0 if ev.watchlisted else ev.headline_mentions / ev.news_count
    return Components(
        market_cap_tier=TIER_VALUE[ev.tier],
        sentiment=round(max(-1.0, min(1.0, sentiment)), 6),
        news_count_norm=round(ev.news_count / max_count, 6),
        priority=round(min(1.0, priority), 6),
    )


def rank(evidence: list[TickerEvidence]) -> list[tuple[TickerEvidence, Components, float]]:
    """Score every ticker and order by final score (ties: more news, then code)."""
    if not evidence:
        return []
    max_count = max(e.news_count for e in evidence)
    scored = [(e, c, c.final()) for e in evidence for c in [components(e, max_count)]]
    return sorted(scored, key=lambda t: (-t[2], -t[0].news_count, t[0].code))
