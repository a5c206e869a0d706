"""The seed's scoring formula, component by component."""

from __future__ import annotations

import pytest

from quartz_cli.domain.lexicon import score_sentences
from quartz_cli.domain.scoring import WEIGHTS, TickerEvidence, components, rank
from quartz_cli.domain.universe import Tier


def test_weights_are_the_seeds() -> None:
    assert WEIGHTS == {"market_cap_tier": 0.25, "sentiment": 0.40, "news_count_norm": 0.25,
                       "priority": 0.10}


def test_final_score_is_the_weighted_sum() -> None:
    ev = TickerEvidence("068270", Tier.MID, (0.5, -0.1, 0.2), headline_mentions=2)
    c = components(ev, max_count=6)
    assert (c.market_cap_tier, c.sentiment, c.news_count_norm) == (0.6, 0.2, 0.5)
    assert c.priority == pytest.approx(2 / 3, abs=1e-6)
    assert c.final() == pytest.approx(0.6 * 0.25 + 0.2 * 0.40 + 0.5 * 0.25 + (2 / 3) * 0.10,
                                      abs=1e-6)


def test_watchlist_sets_priority_and_bounds_hold() -> None:
    worst = components(TickerEvidence("A", Tier.SMALL, (-1.0,), 0), max_count=10)
    best = components(TickerEvidence("B", Tier.LARGE, (1.0, 1.0), 0, watchlisted=True),
                      max_count=2)
    assert worst.final() == pytest.approx(0.3 * 0.25 - 0.40 + 0.1 * 0.25)
    assert best.final() == pytest.approx(1.0)


def test_rank_orders_by_score_then_news_then_code() -> None:
    evs = [TickerEvidence("000002", Tier.LARGE, (0.1,), 1),
           TickerEvidence("000001", Tier.LARGE, (0.1,), 1),
           TickerEvidence("000003", Tier.SMALL, (0.9, 0.9), 2)]
    assert [e.code for e, _, _ in rank(evs)] == ["000003", "000001", "000002"]


def test_lexicon_reads_reversals_before_keywords() -> None:
    assert score_sentences(["실적 개선과 대규모 수주로 신고가를 경신했다."]).score > 0.5
    assert score_sentences(["유상증자 결정에 주가가 급락했다."]).score < -0.5
    assert score_sentences(["적자 축소와 우려 해소로 반등했다."]).score > 0
    s = score_sentences(["코스피가 마감했다."])
    assert s.score == 0 and "no sentiment keyword" in s.reason
