"""The simulator's sample market at the scale of the whole KRX: each ticker's price path is
built once and served again (no regeneration per call at any universe size), an earlier
end is the same bars as a path built to that end, and history never changes as days pass."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np

from quartz_cli.calendars import krx_calendar
from quartz_cli.domain.universe import Universe, bundled_universe
from quartz_cli.sim.market import SampleMarket


def _universe(n: int) -> Universe:
    base = bundled_universe().listings
    # More than the 256 paths the old per-call cache kept.
    return Universe([replace(base[i % len(base)], code=f"{900000 + i}") for i in range(n)])


def test_more_paths_than_the_old_cache_held_are_built_once_and_sliced(calendar_cache):
    calendar = krx_calendar(calendar_cache)
    universe = _universe(260)
    market = SampleMarket(universe, calendar)
    last, earlier = date(2022, 12, 29), date(2022, 6, 30)
    first = {c: market.daily(c, last) for c in universe.codes()}
    again = {c: market.daily(c, last) for c in universe.codes()}
    assert all(first[c] is again[c] for c in universe.codes())
    fresh = SampleMarket(universe, calendar)
    for code in universe.codes()[::29]:
        cut, built = market.daily(code, earlier), fresh.daily(code, earlier)
        assert cut.dates == built.dates and cut.dates[-1] == earlier
        for field in ("open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(cut, field), getattr(built, field))
            assert np.array_equal(getattr(cut, field),
                                  getattr(first[code], field)[:len(cut)])
