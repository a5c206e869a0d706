"""Ticker matching throughput: TickerMatcher (boundary rules, span claiming, sentences) against
a reference measured in the same run — one compiled regex alternation of the same names and
aliases with no rules at all. Prints both times and the ratio.

    .venv/bin/python scripts/bench/selection_matching.py [repeat]
"""

from __future__ import annotations

import re
import sys
import time

from quartz_cli.domain.matching import TickerMatcher
from quartz_cli.domain.universe import bundled_universe
from quartz_cli.sources.news.fakes import corpus


def main(repeat: int = 200) -> None:
    uni = bundled_universe()
    matcher = TickerMatcher(uni)
    forms = sorted({f for x in uni.listings for f in (x.name, *x.aliases)}, key=len, reverse=True)
    reference = re.compile("|".join(re.escape(f) for f in forms))
    texts = [f"{a.title}\n{a.body}" for a in corpus()[1]] * repeat

    t0 = time.perf_counter()
    ref_hits = sum(len(reference.findall(t)) for t in texts)
    t_ref = time.perf_counter() - t0

    t0 = time.perf_counter()
    hits = sum(len(matcher.find(t)) for t in texts)
    t_match = time.perf_counter() - t0

    chars = sum(len(t) for t in texts)
    print(f"texts: {len(texts)} ({chars / 1e6:.2f} M chars), forms: {len(forms)}")
    print(f"reference regex (no rules): {t_ref * 1e3:8.1f} ms  {ref_hits} raw hits")
    print(f"TickerMatcher:              {t_match * 1e3:8.1f} ms  {hits} matches")
    print(f"ratio matcher/reference:    {t_match / t_ref:8.1f}x")
    print(f"matcher articles/s:         {len(texts) / t_match:8.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
