import threading

import numpy as np
import pytest
import talib

from quartz_cli import _native


def test_sma_matches_talib_bit_for_bit_on_krw_prices():
    rng = np.random.default_rng(7)
    close = np.cumprod(1 + rng.normal(0, 0.02, size=(16, 600)), axis=1) * 80_000
    for period in (5, 10, 20):
        out = _native.sma_batch(close, period)
        for row in range(close.shape[0]):
            ref = talib.SMA(close[row], timeperiod=period)
            assert np.array_equal(np.isnan(out[row]), np.isnan(ref))
            np.testing.assert_array_equal(out[row][period - 1:], ref[period - 1:])


def test_sma_matches_numpy_reference_and_warmup_is_nan():
    close = np.arange(1.0, 31.0).reshape(3, 10)
    out = _native.sma_batch(close, 4)
    assert np.isnan(out[:, :3]).all()
    windows = np.lib.stride_tricks.sliding_window_view(close, 4, axis=1).mean(axis=2)
    np.testing.assert_allclose(out[:, 3:], windows, rtol=0, atol=1e-12)


def test_short_series_is_all_nan_and_bad_period_is_rejected():
    out = _native.sma_batch(np.ones((2, 3)), 5)
    assert out.shape == (2, 3) and np.isnan(out).all()
    with pytest.raises(ValueError, match="period must be >= 1"):
        _native.sma_batch(np.ones((2, 3)), 0)
    with pytest.raises(ValueError, match="expected a 2-D array"):
        _native.sma_batch(np.ones(3), 2)


def test_thread_count_does_not_change_results():
    close = np.random.default_rng(1).uniform(1_000, 900_000, size=(257, 300))
    one = _native.sma_batch(close, 20, threads=1)
    many = _native.sma_batch(close, 20, threads=7)
    np.testing.assert_array_equal(one, many)


def test_kernel_releases_the_gil():
    """Another Python thread keeps running while a long kernel call is in flight."""
    close = np.random.default_rng(2).uniform(1, 2, size=(32, 200_000))
    ticks = []
    done = threading.Event()

    def spin():
        while not done.is_set():
            ticks.append(1)

    t = threading.Thread(target=spin)
    t.start()
    before = len(ticks)
    _native.sma_batch(close, 20, threads=1)
    during = len(ticks) - before
    done.set()
    t.join()
    assert during > 1000
