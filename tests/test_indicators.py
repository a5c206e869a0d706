"""Native core vs numpy reference vs TA-Lib 0.8.2 (the pinned reference): values within the
issue's tolerances and NaN warm-up exactly where TA-Lib has it."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from quartz_cli.errors import InputError
from quartz_cli.indicators import native, reference
from quartz_cli.indicators.fibonacci import retracement_levels
from quartz_cli.indicators.spec import SERIES, first_defined_bar

RSI_ABS = 1e-9
PRICE_REL = 1e-9
SWING = 60


def _universe(tickers: int = 40, bars: int = 700, seed: int = 7):
    """KRW-like prices from ~1,000 to ~3,000,000 won, on whole won, with highs and lows."""
    rng = np.random.default_rng(seed)
    level = np.exp(rng.uniform(np.log(1_000), np.log(3_000_000), tickers))[:, None]
    close = np.round(level * np.exp(np.cumsum(rng.normal(0, 0.02, (tickers, bars)), axis=1)))
    high = close + np.round(np.abs(rng.normal(0, 0.01, close.shape)) * close)
    low = close - np.round(np.abs(rng.normal(0, 0.01, close.shape)) * close)
    return close, high, low


def _talib(close, high, low) -> dict[str, np.ndarray]:
    out: dict[str, list] = {name: [] for name in SERIES}
    for c, h, lo in zip(close, high, low, strict=True):
        for p in (5, 10, 20):
            out[f"sma{p}"].append(talib.SMA(c, p))
        out["rsi14"].append(talib.RSI(c, 14))
        m, s, hist = talib.MACD(c, 12, 26, 9)
        out["macd"].append(m)
        out["macd_signal"].append(s)
        out["macd_hist"].append(hist)
        u, mid, low_band = talib.BBANDS(c, 20, 2.0, 2.0, 0)
        out["bb_upper"].append(u)
        out["bb_middle"].append(mid)
        out["bb_lower"].append(low_band)
        out["swing_high"].append(talib.MAX(h, SWING))
        out["swing_low"].append(talib.MIN(lo, SWING))
    return {k: np.array(v) for k, v in out.items()}


def _assert_close(name: str, got: np.ndarray, want: np.ndarray, close: np.ndarray) -> None:
    assert got.shape == want.shape
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    assert np.array_equal(nan_got, nan_want), f"{name}: NaN warm-up differs"
    diff = np.abs(got - want)[~nan_want]
    if name == "rsi14":
        assert diff.max(initial=0.0) <= RSI_ABS, f"{name}: max abs diff {diff.max()}"
    else:
        # MACD lines are price-valued (won); scale by the bar's price.
        scale = np.broadcast_to(close, got.shape)[~nan_want]
        assert (diff <= PRICE_REL * scale).all(), f"{name}: max rel {np.max(diff / scale)}"


@pytest.fixture(scope="module")
def universe():
    close, high, low = _universe()
    return close, high, low, _talib(close, high, low)


@pytest.mark.parametrize("name", SERIES)
def test_native_batch_matches_talib(universe, name):
    close, high, low, want = universe
    got = native.technical_batch(close, high, low, swing_lookback=SWING)
    _assert_close(name, got[name], want[name], close)


@pytest.mark.parametrize("name", SERIES)
def test_numpy_reference_matches_talib(universe, name):
    close, high, low, want = universe
    got = reference.technical(close, high, low, swing_lookback=SWING)
    _assert_close(name, got[name], want[name], close)


def test_warm_up_is_nan_exactly_until_the_first_defined_bar(universe):
    close, high, low, _ = universe
    got = native.technical_batch(close, high, low, swing_lookback=SWING)
    for name in SERIES:
        first = first_defined_bar(name, SWING)
        assert np.isnan(got[name][:, :first]).all(), name
        assert np.isfinite(got[name][:, first:]).all(), name


def test_rsi_macd_and_sma_agree_with_talib_to_the_last_bit(universe):
    close, high, low, want = universe
    got = native.technical_batch(close, high, low, swing_lookback=SWING)
    for name in ("rsi14", "macd", "macd_signal", "macd_hist", "sma5", "sma20", "swing_high"):
        assert np.array_equal(got[name], want[name], equal_nan=True), name


@pytest.mark.parametrize("bars", [1, 14, 15, 19, 20, 33, 34, 35])
def test_short_series_match_talib(bars):
    close, high, low = _universe(tickers=3, bars=bars, seed=bars)
    want = _talib(close, high, low)
    got = native.technical_batch(close, high, low, swing_lookback=SWING)
    for name in SERIES:
        _assert_close(name, got[name], want[name], close)


def test_flat_series_rsi_is_zero_like_talib_0_8():
    flat = np.full((1, 50), 70_000.0)
    assert np.array_equal(native.rsi(flat)[0], talib.RSI(flat[0], 14), equal_nan=True)
    assert native.rsi(flat)[0, -1] == 0.0
    up, mid, lo = native.bbands(flat)
    assert up[0, -1] == mid[0, -1] == lo[0, -1] == 70_000.0


def test_single_kernels_equal_the_batch(universe):
    close, high, low, _ = universe
    batch = native.technical_batch(close, high, low, swing_lookback=SWING, threads=1)
    assert np.array_equal(native.rsi(close), batch["rsi14"], equal_nan=True)
    m, s, h = native.macd(close)
    assert np.array_equal(m, batch["macd"], equal_nan=True)
    assert np.array_equal(h, batch["macd_hist"], equal_nan=True)
    u, mid, lo = native.bbands(close)
    assert np.array_equal(lo, batch["bb_lower"], equal_nan=True)
    assert np.array_equal(native.sma(close, 10), batch["sma10"], equal_nan=True)
    assert np.array_equal(native.rolling_min(low, SWING), batch["swing_low"], equal_nan=True)


def test_thread_count_does_not_change_results(universe):
    close, high, low, _ = universe
    one = native.technical_batch(close, high, low, swing_lookback=SWING, threads=1)
    many = native.technical_batch(close, high, low, swing_lookback=SWING, threads=4)
    for name in SERIES:
        assert np.array_equal(one[name], many[name], equal_nan=True), name


def test_preallocated_output_is_filled_in_place(universe):
    close, high, low, _ = universe
    block = np.empty((len(SERIES), *close.shape))
    got = native.technical_batch(close, high, low, swing_lookback=SWING, out=block)
    assert np.shares_memory(got["rsi14"], block)
    with pytest.raises(ValueError, match="out must"):
        native.technical_batch(close, high, low, swing_lookback=SWING,
                               out=np.empty((len(SERIES), *close.shape), np.float32))


def test_nan_input_is_refused_not_turned_into_an_rsi_of_zero():
    close, high, low = _universe(tickers=1, bars=100)
    close[0, 50] = np.nan
    with pytest.raises(InputError, match="halted or missing"):
        native.technical_batch(close, high, low, swing_lookback=SWING)
    from quartz_cli import _native

    with pytest.raises(ValueError, match="finite"):
        _native.technical_batch(close, high, low, SWING)
    # The single RSI kernel propagates NaN where TA-Lib reports a silent 0.0.
    assert np.isnan(native.rsi(close)[0, 60:]).all()
    assert talib.RSI(close[0], 14)[60] == 0.0


def test_rolling_extremes_are_exact_for_every_window():
    rng = np.random.default_rng(3)
    values = rng.integers(1, 1_000, size=(5, 301)).astype(float)
    for period in (1, 2, 7, 60, 301):
        assert np.array_equal(native.rolling_max(values, period),
                              reference.rolling_max(values, period), equal_nan=True)
        assert np.array_equal(native.rolling_min(values, period),
                              reference.rolling_min(values, period), equal_nan=True)


def test_fibonacci_levels_run_from_the_swing_high_to_the_low():
    levels = retracement_levels(80_000.0, 60_000.0)
    assert list(levels) == ["0", "23.6", "38.2", "50", "61.8", "78.6", "100"]
    assert levels["0"] == 80_000.0 and levels["100"] == 60_000.0
    assert levels["50"] == 70_000.0
    assert levels["61.8"] == pytest.approx(80_000.0 - 0.618 * 20_000.0)
