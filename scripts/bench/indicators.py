"""Indicator benchmark: a synthetic universe of 2,800 tickers × 2,500 bars, every indicator
Quartz reads (SMA 5/10/20, RSI 14, MACD 12/26/9, Bollinger 20/2, 60-bar swing high/low),
computed three ways in one run:

  native   quartz_cli._native.technical_batch (one pass per row, GIL released, all cores),
           with the kernel variant auto dispatch picks (printed), and again forced to the
           baseline variant (what a CPU without AVX2/FMA runs)
  talib    TA-Lib 0.8.2 called per ticker (SMA×3, RSI, MACD, BBANDS, MAX, MIN), each result
           stored in an output array of the native batch's layout
  numpy    quartz_cli.indicators.reference, stepped in time across all tickers

and the memory-bandwidth floor: bytes the native batch must move (read close/high/low, write
the 12 output series) ÷ the copy bandwidth measured here. Prints seconds and ratios.

    .venv/bin/python scripts/bench/indicators.py [--tickers N] [--bars N] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from quartz_cli.indicators import native, reference
from quartz_cli.indicators.spec import SERIES, SWING_LOOKBACK


def universe(tickers: int, bars: int, seed: int = 42):
    rng = np.random.default_rng(seed)
    level = np.exp(rng.uniform(np.log(1_000), np.log(3_000_000), tickers))[:, None]
    close = np.round(level * np.exp(np.cumsum(rng.normal(0, 0.02, (tickers, bars)), axis=1)))
    spread = np.abs(rng.normal(0, 0.01, (tickers, bars))) * close
    return close, np.round(close + spread), np.round(close - spread)


def best_of(repeat: int, fn) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def copy_bandwidth(nbytes: int = 512 << 20, repeat: int = 5) -> float:
    """Bytes moved per second (read + write) by a large numpy copy."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    return 2 * nbytes / best_of(repeat, lambda: np.copyto(dst, src))


_EVICT = np.ones(128 << 17)  # 128 MiB: several times any last-level cache here


def evict_caches() -> None:
    """Reads a buffer larger than the caches, so the next timed run starts with none of the
    last run's lines cached and no dirty line of it left to write back."""
    float(_EVICT.sum())


def talib_loop(close, high, low, out) -> None:
    """TA-Lib per ticker, keeping every result in `out` (same layout as the native batch):
    both methods must leave the universe's indicators in memory, not just compute them."""
    import talib

    for i, (c, h, lo) in enumerate(zip(close, high, low, strict=True)):
        out[0, i] = talib.SMA(c, 5)
        out[1, i] = talib.SMA(c, 10)
        out[2, i] = talib.SMA(c, 20)
        out[3, i] = talib.RSI(c, 14)
        out[4, i], out[5, i], out[6, i] = talib.MACD(c, 12, 26, 9)
        out[7, i], out[8, i], out[9, i] = talib.BBANDS(c, 20, 2.0, 2.0, 0)
        out[10, i] = talib.MAX(h, SWING_LOOKBACK)
        out[11, i] = talib.MIN(lo, SWING_LOOKBACK)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickers", type=int, default=2_800)
    parser.add_argument("--bars", type=int, default=2_500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    close, high, low = universe(args.tickers, args.bars)
    out = np.empty((len(SERIES), *close.shape))
    run_native = lambda: native.technical_batch(close, high, low, out=out)  # noqa: E731
    run_native()

    bandwidth = copy_bandwidth()
    moved = close.nbytes * 3 + out.nbytes
    floor_s = moved / bandwidth
    t_native = best_of(args.repeat, run_native)
    t_native_1 = best_of(max(1, args.repeat // 2),
                         lambda: native.technical_batch(close, high, low, out=out, threads=1))
    out_base = np.empty_like(out)
    run_base = lambda: native.technical_batch(close, high, low, out=out_base,  # noqa: E731
                                              isa="baseline")
    run_base()
    t_base = best_of(args.repeat, run_base)
    out_talib = np.empty_like(out)
    talib_loop(close, high, low, out_talib)
    t_talib = best_of(max(1, args.repeat // 2), lambda: talib_loop(close, high, low, out_talib))
    t0 = time.perf_counter()
    ref = reference.technical(close, high, low, swing_lookback=SWING_LOOKBACK)
    t_numpy = time.perf_counter() - t0

    got = dict(zip(SERIES, out, strict=True))
    talib_diff = max(float(np.nanmax(np.abs(out[k] - out_talib[k]) / (close if SERIES[k] != "rsi14"
                                                                      else 1.0)))
                     for k in range(len(SERIES)))
    worst = max(float(np.nanmax(np.abs(got[k] - ref[k]) / (close if k != "rsi14" else 1.0)))
                for k in SERIES)

    print(f"universe: {args.tickers:,} tickers x {args.bars:,} bars, {len(SERIES)} output series,"
          f" {os.cpu_count()} cores visible")
    print(f"native kernel variant (auto dispatch): {native.isa()}")
    print(f"copy bandwidth: {bandwidth / 1e9:.1f} GB/s; native must move {moved / 1e9:.2f} GB"
          f" -> memory floor {floor_s:.4f} s")
    print(f"{'method':<34}{'seconds':>10}{'vs TA-Lib':>12}")
    for name, t in (("native batch, all cores", t_native), ("native batch, 1 thread", t_native_1),
                    ("native baseline variant, all cores", t_base),
                    ("TA-Lib per ticker", t_talib), ("numpy reference", t_numpy)):
        print(f"{name:<34}{t:>10.4f}{t / t_talib:>12.3f}")
    print(f"native / TA-Lib  = {t_native / t_talib:.3f}  (goal <= 0.2)")
    print(f"native / floor   = {t_native / floor_s:.2f}  (goal <= 3)")
    print(f"numpy  / native  = {t_numpy / t_native:.1f}")
    print(f"native vs numpy reference: worst difference {worst:.2e} (relative to price; RSI "
          "absolute)")
    print(f"native vs TA-Lib: worst difference {talib_diff:.2e}")
    same = np.array_equal(out, out_base, equal_nan=True)
    print(f"baseline variant identical to {native.isa()} variant: {same}")


if __name__ == "__main__":
    main()
