"""The candidates document the decide benchmarks start from (decide.py, decide_warm.py,
decide_store_latency.py, backtest.py): `n` listings published as the selection agent would,
in a subprocess of the benchmark's home (QUARTZ_HOME in `env`).

`source` picks the listings: "bundled" (the 71 bundled listings, in their order) or "master"
(the home's universe from the simulator's master files, `quartz select universe` first; the
local account's holdings lead, so decide's N tickers are candidates and holdings in all)."""

from __future__ import annotations

import subprocess
import sys

_LISTINGS = {
    "bundled": """
from quartz_cli.domain.universe import bundled_universe
listings = bundled_universe().listings[:{n}]
""",
    "master": """
from quartz_cli.agents.selection import selection_universe
from quartz_cli.sim.exchange import SEED_POSITIONS
universe = selection_universe(cfg.home)
held = [universe.require(code) for code, _, _ in SEED_POSITIONS]
listings = list(dict.fromkeys(held + list(universe.listings)))[:{n}]
""",
}

_PUBLISH = """
from quartz_cli.config import load_config
from quartz_cli.domain.candidates import Candidate, CandidatesDocument, ScoreComponents
from quartz_cli.domain.documents import utcnow
from quartz_cli.app.runtime import open_store
from quartz_cli.agents.documents import publish
cfg = load_config()
{listings}
assert len(listings) == {n}, len(listings)
cands = [Candidate(rank=i + 1, code=x.code, name=x.name, market=x.market, tier=x.tier.value,
                   sector=x.sector, score=1 - i / 10000,
                   components=ScoreComponents(market_cap_tier=1, sentiment=0.5,
                                              news_count_norm=0.5, priority=0),
                   news_count=3, top_articles=[]) for i, x in enumerate(listings)]
doc = CandidatesDocument(produced_at=utcnow(), env="local", weights={{}},
                         sentiment_engines=["bench"], window_hours=24, universe_size=len(listings),
                         articles=0, articles_matched=0, duplicates_dropped=0, sources=[],
                         candidates=cands, notes=["benchmark seed"])
publish(open_store(cfg), "candidates", doc)
print(" ".join(x.code for x in listings))
"""


def seed_candidates(env: dict[str, str], n: int, source: str = "bundled") -> list[str]:
    """Publish a candidates document naming `n` listings of `source` in the home of `env`;
    return their codes, in rank order."""
    code = _PUBLISH.format(listings=_LISTINGS[source].format(n=n), n=n)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"seeding the candidates failed: {out.stderr[-1500:]}")
    return out.stdout.split()
