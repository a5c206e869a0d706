"""Numpy reference implementations, stepped in time across all tickers at once.

They follow the same definitions as the native core (TA-Lib's seeding rules) but are
written for clarity, not speed; tests hold the native core and TA-Lib to them. Inputs are
(tickers × bars) or 1-D; outputs have the input's shape."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _rows(values: np.ndarray) -> tuple[np.ndarray, bool]:
    arr = np.asarray(values, dtype=np.float64)
    return np.atleast_2d(arr), arr.ndim == 1


def _shape_like(out: np.ndarray, one_d: bool) -> np.ndarray:
    return out[0] if one_d else out


def sma(close: np.ndarray, period: int) -> np.ndarray:
    """Mean of the last `period` closes, as a running sum (add the new, drop the oldest)."""
    x, one_d = _rows(close)
    out = np.full_like(x, np.nan)
    n = x.shape[1]
    if n >= period:
        total = np.zeros(x.shape[0])
        for i in range(period - 1):
            total = total + x[:, i]
        for i in range(period - 1, n):
            total = total + x[:, i]
            out[:, i] = total / period
            total = total - x[:, i - period + 1]
    return _shape_like(out, one_d)


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's RSI: seeded with the mean of the first `period` gains/losses at bar `period`,
    then G = (G·(p−1) + gain)·(1/p); 100·G/(G+L), 0 when G+L is 0."""
    x, one_d = _rows(close)
    out = np.full_like(x, np.nan)
    n = x.shape[1]
    if n > period:
        diff = np.diff(x, axis=1)
        gains = np.where(diff > 0, diff, 0.0)
        losses = np.where(diff < 0, -diff, 0.0)
        inv = 1.0 / period
        g = np.zeros(x.shape[0])
        lo = np.zeros(x.shape[0])
        for i in range(period):
            g = g + gains[:, i]
            lo = lo + losses[:, i]
        g, lo = g * inv, lo * inv
        for i in range(period, n):
            if i > period:
                g = (g * (period - 1) + gains[:, i - 1]) * inv
                lo = (lo * (period - 1) + losses[:, i - 1]) * inv
            s = g + lo
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, i] = np.where(s > 0, 100.0 * (g / s), 0.0)
    return _shape_like(out, one_d)


def _ema_from(x: np.ndarray, seed_start: int, start: int, period: int) -> np.ndarray:
    """EMA seeded at bar `start` with the mean of bars seed_start..start, then stepped."""
    k = 2.0 / (period + 1)
    out = np.full_like(x, np.nan)
    e = np.zeros(x.shape[0])
    for i in range(seed_start, start + 1):
        e = e + x[:, i]
    e = e / (start - seed_start + 1)
    out[:, start] = e
    for i in range(start + 1, x.shape[1]):
        e = (x[:, i] - e) * k + e
        out[:, i] = e
    return out


def macd(close: np.ndarray, fast: int = 12, slow: int = 26,
         signal: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD as TA-Lib's MACD seeds it: slow EMA from the mean of bars 0..slow−1, fast EMA from
    the mean of bars slow−fast..slow−1, signal from the mean of the first `signal` MACD values.
    All three are NaN before bar slow+signal−2."""
    x, one_d = _rows(close)
    n = x.shape[1]
    first = slow + signal - 2
    line = np.full_like(x, np.nan)
    sig = np.full_like(x, np.nan)
    if n > first:
        start = slow - 1
        raw = _ema_from(x, slow - fast, start, fast) - _ema_from(x, 0, start, slow)
        tail = _ema_from(raw[:, start:], 0, signal - 1, signal)
        line[:, first:] = raw[:, first:]
        sig[:, start:] = tail
        sig[:, :first] = np.nan
    hist = line - sig
    return _shape_like(line, one_d), _shape_like(sig, one_d), _shape_like(hist, one_d)


def bbands(close: np.ndarray, period: int = 20,
           k: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands: SMA(period) ± k·σ, σ the population standard deviation of each window,
    computed two-pass (mean first, then squared deviations)."""
    x, one_d = _rows(close)
    middle = np.atleast_2d(sma(x, period))
    upper = np.full_like(x, np.nan)
    lower = np.full_like(x, np.nan)
    for i in range(period - 1, x.shape[1]):
        window = x[:, i - period + 1:i + 1]
        dev = window - window.mean(axis=1, keepdims=True)
        width = k * np.sqrt((dev * dev).mean(axis=1))
        upper[:, i] = middle[:, i] + width
        lower[:, i] = middle[:, i] - width
    return _shape_like(upper, one_d), _shape_like(middle, one_d), _shape_like(lower, one_d)


def _rolling(values: np.ndarray, period: int,
             reduce: Callable[..., np.ndarray]) -> np.ndarray:
    x, one_d = _rows(values)
    out = np.full_like(x, np.nan)
    if x.shape[1] >= period:
        out[:, period - 1:] = reduce(sliding_window_view(x, period, axis=1), axis=2)
    return _shape_like(out, one_d)


def rolling_max(values: np.ndarray, period: int) -> np.ndarray:
    """Highest value of the last `period` bars."""
    return _rolling(values, period, np.max)


def rolling_min(values: np.ndarray, period: int) -> np.ndarray:
    """Lowest value of the last `period` bars."""
    return _rolling(values, period, np.min)


def technical(close: np.ndarray, high: np.ndarray, low: np.ndarray, *,
              swing_lookback: int) -> dict[str, np.ndarray]:
    """The same named series as `native.technical_batch`, computed with numpy."""
    m, s, h = macd(close)
    u, mid, lo = bbands(close)
    return {
        "sma5": sma(close, 5), "sma10": sma(close, 10), "sma20": sma(close, 20),
        "rsi14": rsi(close), "macd": m, "macd_signal": s, "macd_hist": h,
        "bb_upper": u, "bb_middle": mid, "bb_lower": lo,
        "swing_high": rolling_max(high, swing_lookback),
        "swing_low": rolling_min(low, swing_lookback),
    }
