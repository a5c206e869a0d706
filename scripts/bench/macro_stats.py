"""Macro statistics: the native kernel against the numpy reference, timed in the same run.

Prints the time of each over a panel of monthly series and the speed-up ratio."""

from __future__ import annotations

import time

import numpy as np

from quartz_cli.domain.macro_stats import MONTHLY, native_stats, reference_stats


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(7)
    for rows in (16, 1000):
        values = 100 + rng.normal(size=(rows, 240)).cumsum(axis=1)
        values[:, :12] = np.nan
        native = best_of(lambda v=values: native_stats(v, MONTHLY))
        ref = best_of(lambda v=values: reference_stats(v, MONTHLY), repeat=3 if rows > 100 else 5)
        got, _ = native_stats(values, MONTHLY)
        want, _ = reference_stats(values, MONTHLY)
        assert np.allclose(got, want, rtol=0, atol=1e-9, equal_nan=True)
        print(f"{rows:>5} series x 240 months: native {native * 1e3:8.3f} ms, "
              f"numpy reference {ref * 1e3:9.3f} ms, ratio {ref / native:7.1f}x")


if __name__ == "__main__":
    main()
