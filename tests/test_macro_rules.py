"""The macro rule engine: thresholds, bias, and a valid ten-sentence report in every case."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from quartz_cli.domain.macro import SPECS, MacroView, SeriesStats, SourceStatus
from quartz_cli.llm.macro_rules import ENGINE, bias_of, rule_view, signals


def stat(sid: str, latest: float, yoy: float | None, z: float | None = None) -> SeriesStats:
    spec = SPECS[sid]
    return SeriesStats(id=sid, name=spec.name, source=spec.source, unit=spec.unit,
                       frequency="A" if spec.frequency == "A" else "M",
                       change_unit="pp" if spec.change == "pp" else "%",
                       last_period=date(2026, 10, 1), latest=latest, yoy=yoy, zscore_5y=z,
                       data_age_days=24)


BULLISH = [stat("kr.base_rate", 2.5, -0.5), stat("kr.core_cpi", 110, 1.8),
           stat("kr.exports", 6e7, 8.0), stat("us.fed_funds", 3.4, -1.0),
           stat("world.gdp_growth", 3.2, 0.3)]
BEARISH = [stat("kr.base_rate", 3.5, 0.5), stat("kr.core_cpi", 110, 3.8),
           stat("kr.usdkrw", 1480, 9.0, z=2.1), stat("kr.household_loans", 1.2e6, 6.5),
           stat("us.core_cpi", 330, 4.0)]


def test_supportive_and_adverse_backdrops() -> None:
    assert bias_of(signals(BULLISH)) == "bullish"
    assert bias_of(signals(BEARISH)) == "bearish"
    view = rule_view(BEARISH, [], sample_data=False, reason="GEMINI_API_KEY is not set")
    assert view.engine == ENGINE and view.value.market_bias_hint == "bearish"
    assert "five-year high" in view.value.negative_view
    assert "No indicator currently argues for support" in view.value.positive_view
    assert "not by an LLM" in view.value.negative_view
    assert "SAMPLE" not in view.value.summary[0]


def test_too_few_indicators_is_uncertain() -> None:
    assert bias_of(signals(BULLISH[:3])) == "uncertain"
    empty = rule_view([], [SourceStatus(source="fred", state="failed", missing_series=["us.cpi"])],
                      sample_data=True, reason="no source returned usable data")
    assert empty.value.market_bias_hint == "uncertain"
    assert len(empty.value.summary) == 10 and "SAMPLE" in empty.value.summary[0]
    assert any("FRED failed" in s for s in empty.value.summary)


@pytest.mark.parametrize("yoy", [-12.5, -3.0, 0.0, 0.05, 2.999, 3.5, 7.25, None])
def test_every_combination_yields_a_valid_view(yoy: float | None) -> None:
    ids = ["kr.base_rate", "kr.core_cpi", "kr.usdkrw", "kr.exports", "kr.household_loans",
           "us.fed_funds", "us.core_cpi", "world.gdp_growth", "kr.gdp_growth"]
    for n in (0, 1, 4, len(ids)):
        for chosen in itertools.islice(itertools.combinations(ids, n), 20):
            stats = [stat(sid, 1234.5 if yoy is None else abs(yoy), yoy, z=yoy) for sid in chosen]
            statuses = [SourceStatus(source="ecos", state="partial", reused_series=["kr.cpi"],
                                     age_hours=30.5)]
            result = rule_view(stats, statuses, sample_data=n % 2 == 0, reason="test.")
            MacroView.model_validate(result.value.model_dump())
            assert len(result.value.summary) == 10
