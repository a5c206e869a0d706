"""Native macro statistics against the numpy reference, and against hand-worked values."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from quartz_cli.domain.macro import SPECS, Observation, to_grid
from quartz_cli.domain.macro_stats import (
    ANNUAL,
    MONTHLY,
    STAT_COLUMNS,
    StatParams,
    compute_stats,
    native_stats,
    reference_stats,
)

COL = {name: i for i, name in enumerate(STAT_COLUMNS)}


def _panel(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = 100 + rng.normal(size=(40, 130)).cumsum(axis=1)
    for r in range(v.shape[0]):
        v[r, : rng.integers(0, 40)] = np.nan          # different start dates
        v[r, v.shape[1] - rng.integers(0, 4):] = np.nan  # different end dates
    v[3, 60] = np.nan                                  # a gap inside
    v[5] = np.round(v[5] / 5)                          # plateaus (a policy rate)
    v[6] = np.nan                                      # an empty row
    v[7, :] = 2.5                                      # constant: zscore undefined
    return v


@pytest.mark.parametrize("params", [MONTHLY, ANNUAL, StatParams(2, 6, (2, 4, 8), 10, 4, 2)])
@pytest.mark.parametrize("seed", [1, 2])
def test_native_equals_numpy_reference(params: StatParams, seed: int) -> None:
    values = _panel(seed)
    got, got_turns = native_stats(values, params, threads=2)
    want, want_turns = reference_stats(values, params)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, equal_nan=True)
    assert np.array_equal(got_turns, want_turns)
    assert np.abs(got_turns).sum() > 0          # the panel has turning points to compare
    assert np.isnan(got[6]).all() and np.isnan(got[7, COL["zscore"]])


def test_hand_worked_values() -> None:
    x = np.array([[np.nan, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13.0]])
    p = StatParams(pop_lag=1, yoy_lag=12, slope_windows=(3, 6, 12), z_window=5, z_min=3,
                   turn_window=1)
    for stats, _ in (native_stats(x, p), reference_stats(x, p)):
        row = stats[0]
        assert row[COL["latest"]] == 13 and row[COL["last_index"]] == 13
        assert row[COL["pop_abs"]] == 1 and row[COL["pop_pct"]] == pytest.approx(100 / 12)
        assert row[COL["yoy_abs"]] == 12 and row[COL["yoy_pct"]] == pytest.approx(1200)
        assert row[COL["slope_a"]] == row[COL["slope_b"]] == row[COL["slope_c"]] == 1.0
        # last five: 9..13, mean 11, population sd sqrt(2)
        assert row[COL["zscore"]] == pytest.approx(2 / np.sqrt(2))


def test_turning_points_treat_a_plateau_as_one_point() -> None:
    # rises to a 3.5 plateau, holds, then cuts: one peak at the plateau's first month
    x = np.array([[1.0, 2, 3, 3.5, 3.5, 3.5, 3.5, 3, 2.5, 2, 2, 2.5, 3, 3.5]])
    p = StatParams(1, 12, (3, 6, 12), 60, 3, 3)
    for _, turns in (native_stats(x, p), reference_stats(x, p)):
        assert list(np.flatnonzero(turns[0])) == [3, 9]
        assert turns[0, 3] == 1 and turns[0, 9] == -1


def test_compute_stats_reads_changes_in_the_series_unit() -> None:
    months = [date(2020 + (m // 12), m % 12 + 1, 1) for m in range(30)]
    rate = [Observation(date=d, value=1.0 + 0.25 * (i >= 20)) for i, d in enumerate(months)]
    level = [Observation(date=d, value=100.0 * 1.01 ** i) for i, d in enumerate(months)]
    stats = {s.id: s for s in compute_stats(
        [(SPECS["kr.base_rate"], rate, False), (SPECS["kr.cpi"], level, True)],
        date(2022, 7, 15))}
    assert stats["kr.base_rate"].change_unit == "pp" and stats["kr.base_rate"].yoy == 0.25
    assert stats["kr.cpi"].change_unit == "%"
    assert stats["kr.cpi"].pop == pytest.approx(1.0)
    assert stats["kr.cpi"].yoy == pytest.approx((1.01 ** 12 - 1) * 100)
    assert stats["kr.cpi"].reused and stats["kr.cpi"].last_period == date(2022, 6, 1)
    assert stats["kr.cpi"].data_age_days == 15
    native = compute_stats([(SPECS["kr.cpi"], level, False)], date(2022, 7, 15))
    ref = compute_stats([(SPECS["kr.cpi"], level, False)], date(2022, 7, 15), native=False)
    assert native == ref


def test_daily_series_are_reduced_to_months_by_their_rule() -> None:
    days = [Observation(date=date(2024, 1, d), value=float(d)) for d in (2, 3, 31)]
    assert to_grid(SPECS["kr.base_rate"], days)[0].value == 31.0        # end of month
    assert to_grid(SPECS["kr.usdkrw"], days)[0].value == pytest.approx(12.0)  # monthly mean
