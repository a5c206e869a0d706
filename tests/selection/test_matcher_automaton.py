"""The Aho–Corasick matcher gives exactly the matches of the one-search-per-name matcher it
replaced (kept as the reference in scripts/bench/), on the news corpus and over a universe
the size of the whole KRX."""

from __future__ import annotations

import sys
from pathlib import Path

from quartz_cli.domain.matching import TickerMatcher
from quartz_cli.domain.universe import Universe, bundled_universe
from quartz_cli.sources.news.fakes import corpus

sys.path.insert(0, str(Path(__file__).parents[2] / "scripts" / "bench"))

from matcher_reference import ReferenceMatcher, listings_at_scale, texts_at_scale


def test_identical_matches_on_the_news_corpus():
    universe = bundled_universe()
    texts = [t for a in corpus()[1] for t in (a.title, a.body)]
    fast, slow = TickerMatcher(universe), ReferenceMatcher(universe)
    found = [fast.find(t) for t in texts]
    assert found == [slow.find(t) for t in texts]
    assert sum(map(len, found)) > 20


def test_identical_matches_over_the_whole_krx_scale():
    universe = Universe(listings_at_scale(2800))
    texts = texts_at_scale(list(universe.listings), 80)
    fast, slow = TickerMatcher(universe), ReferenceMatcher(universe)
    found = [fast.find(t) for t in texts]
    assert found == [slow.find(t) for t in texts]
    # Long names containing shorter ones, suffixes that block a match and lower-cased Latin
    # names all occur: the comparison exercises every rule.
    assert sum(map(len, found)) > 500
    assert any(m.surface != m.surface.upper() and m.surface.isascii()
               for ms in found for m in ms)
