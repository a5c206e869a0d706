"""Ticker matching at the scale of the whole KRX (~2,800 listings): the Aho–Corasick matcher
(`TickerMatcher`, one pass over a text for all names) against the matcher it replaced,
measured in the same run (`matcher_reference.ReferenceMatcher`, one full-text search per
name), over the same texts. Checks that both give identical matches, then prints both times
and the speed-up (interleaved runs, the median of each).

    .venv/bin/python scripts/bench/selection_matching.py [listings] [texts] [rounds]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from matcher_reference import ReferenceMatcher, listings_at_scale, texts_at_scale

from quartz_cli.domain.matching import TickerMatcher
from quartz_cli.domain.universe import Universe
from quartz_cli.sources.news.fakes import corpus


def main(listings: int = 2800, count: int = 300, rounds: int = 5) -> None:
    universe = Universe(listings_at_scale(listings))
    fast, slow = TickerMatcher(universe), ReferenceMatcher(universe)
    texts = [f"{a.title}\n{a.body}" for a in corpus()[1]]
    texts += texts_at_scale(list(universe.listings), count)
    assert [fast.find(t) for t in texts] == [slow.find(t) for t in texts], "outputs differ"
    times: dict[str, list[float]] = {"automaton": [], "reference": []}
    for _ in range(rounds):
        for name, matcher in (("automaton", fast), ("reference", slow)):
            t0 = time.perf_counter()
            for t in texts:
                matcher.find(t)
            times[name].append(time.perf_counter() - t0)
    fast_s, slow_s = (statistics.median(times[k]) for k in ("automaton", "reference"))
    chars = sum(len(t) for t in texts)
    print(f"listings: {len(universe)}, texts: {len(texts)} ({chars / 1e6:.2f} M chars), "
          f"rounds: {rounds} interleaved; outputs identical")
    print(f"reference (one search per name): {slow_s * 1e3:9.1f} ms")
    print(f"Aho-Corasick automaton:          {fast_s * 1e3:9.1f} ms")
    print(f"speed-up:                        {slow_s / fast_s:9.1f}x")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
