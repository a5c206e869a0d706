"""The native batch core behind a typed interface: named series over (tickers × bars)."""

from __future__ import annotations

import numpy as np

from quartz_cli import _native
from quartz_cli.errors import ConfigError, InputError
from quartz_cli.indicators.spec import SERIES, SWING_LOOKBACK

# Variants of the lane kernels technical_batch can run (cpp/technical_block.hpp).
ISA_CHOICES = ("auto", "avx2", "baseline")


def as_matrix(values: np.ndarray) -> np.ndarray:
    """A C-contiguous float64 (tickers × bars) view or copy of 1-D or 2-D input."""
    return np.ascontiguousarray(np.atleast_2d(np.asarray(values, dtype=np.float64)))


def require_finite(name: str, values: np.ndarray) -> None:
    """Refuse NaN/inf inputs: TA-Lib-style kernels would turn one into silent garbage (an RSI
    of 0.0), so halts and missing bars must be removed and reported before computing."""
    if not np.isfinite(values).all():
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise InputError(f"{name} has {bad} non-finite value(s); remove halted or missing "
                         "bars before computing indicators")


def isa() -> str:
    """The kernel variant `technical_batch(isa="auto")` runs on this machine: "avx2" (CPU has
    AVX2 + FMA and the build has that variant) or "baseline"; `QUARTZ_NATIVE_ISA`
    (auto/avx2/baseline, read once per process) overrides the automatic choice."""
    try:
        return _native.isa()
    except _native.IsaError as exc:
        raise ConfigError(str(exc)) from exc


def technical_batch(close: np.ndarray, high: np.ndarray, low: np.ndarray, *,
                    swing_lookback: int = SWING_LOOKBACK, threads: int = 0,
                    out: np.ndarray | None = None, isa: str = "auto") -> dict[str, np.ndarray]:
    """Every indicator of `spec.SERIES` for each row of (tickers × bars) prices, computed by
    the native core on all cores with the GIL released. Returns name → (tickers × bars)
    views into one (12, tickers, bars) block (`out` when given, to reuse memory). `isa`
    forces a kernel variant ("avx2" raises ConfigError where it cannot run); all variants
    give identical results. Non-finite prices raise InputError (and leave `out`, if given,
    partly written)."""
    if isa not in ISA_CHOICES:
        raise InputError(f"isa must be one of {', '.join(ISA_CHOICES)}, not {isa!r}")
    c, h, lo = as_matrix(close), as_matrix(high), as_matrix(low)
    try:
        block = _native.technical_batch(c, h, lo, swing_lookback, threads, out, isa)
    except _native.IsaError as exc:
        raise ConfigError(str(exc)) from exc
    except ValueError:
        # The kernels check finiteness while transposing their input (a separate pass here
        # would cost a fifth of the batch); name and count the bad values only on failure.
        for name, arr in (("close", c), ("high", h), ("low", lo)):
            require_finite(name, arr)
        raise
    return dict(zip(SERIES, block, strict=True))


def rsi(close: np.ndarray, period: int = 14, threads: int = 0) -> np.ndarray:
    """RSI (Wilder) per row."""
    return _native.rsi_batch(as_matrix(close), period, threads)


def macd(close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9,
         threads: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(MACD, signal, histogram) per row."""
    return _native.macd_batch(as_matrix(close), fast, slow, signal, threads)


def bbands(close: np.ndarray, period: int = 20, k: float = 2.0,
           threads: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower) Bollinger bands per row (population sigma)."""
    return _native.bbands_batch(as_matrix(close), period, k, threads)


def sma(close: np.ndarray, period: int, threads: int = 0) -> np.ndarray:
    """Simple moving average per row."""
    return _native.sma_batch(as_matrix(close), period, threads)


def rolling_max(values: np.ndarray, period: int, threads: int = 0) -> np.ndarray:
    """Exact rolling maximum per row."""
    return _native.rolling_max_batch(as_matrix(values), period, threads)


def rolling_min(values: np.ndarray, period: int, threads: int = 0) -> np.ndarray:
    """Exact rolling minimum per row."""
    return _native.rolling_min_batch(as_matrix(values), period, threads)
