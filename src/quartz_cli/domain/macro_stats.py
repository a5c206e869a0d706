"""Macro statistics: the native kernel (`_native.macro_stats_batch`) and its numpy reference.

Both take a (series × periods) float64 array on a regular grid, NaN where a period has no
value, and return `(stats, turns)`:

* `stats[:, STAT_COLUMNS.index(name)]` — `latest` (the last value), `pop_abs`/`pop_pct`
  (change over `pop_lag` periods, absolute and in percent), `yoy_abs`/`yoy_pct` (over
  `yoy_lag` periods), `slope_a/b/c` (least-squares slope per period over the last 3/6/12
  values; NaN if one is missing), `zscore` (latest against the mean and population standard
  deviation of the valid values in the trailing `z_window`, at least `z_min` of them), and
  `last_index` (column of the latest value);
* `turns` (int8): +1 where a run of equal values is higher than the `turn_window` values
  before it and after it (a peak), -1 where it is lower (a trough), marked at the run's start.

Sums run left to right in both implementations, so they agree to the last bit in practice
(the tests hold them to 1e-9).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np

from quartz_cli.domain.macro import (
    Observation,
    SeriesSpec,
    SeriesStats,
    TurningPoint,
    period_end,
)

STAT_COLUMNS = ("latest", "pop_abs", "pop_pct", "yoy_abs", "yoy_pct", "slope_a", "slope_b",
                "slope_c", "zscore", "last_index")


@dataclass(frozen=True)
class StatParams:
    """Lags and windows, in periods of the grid."""

    pop_lag: int
    yoy_lag: int
    slope_windows: tuple[int, int, int]
    z_window: int
    z_min: int
    turn_window: int


MONTHLY = StatParams(pop_lag=1, yoy_lag=12, slope_windows=(3, 6, 12), z_window=60, z_min=24,
                     turn_window=3)
# Annual series have no period-on-period change distinct from year-on-year.
ANNUAL = StatParams(pop_lag=0, yoy_lag=1, slope_windows=(3, 6, 12), z_window=5, z_min=3,
                    turn_window=1)


def native_stats(values: np.ndarray, p: StatParams,
                 threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The C++ kernel (GIL released, rows spread over `threads`, 0 = all cores)."""
    from quartz_cli import _native

    return _native.macro_stats_batch(np.ascontiguousarray(values, dtype=np.float64), p.pop_lag,
                                     p.yoy_lag, list(p.slope_windows), p.z_window, p.z_min,
                                     p.turn_window, threads)


def _seq_sum(a: np.ndarray) -> float:
    # cumsum adds left to right, like the kernel; np.sum would sum pairwise.
    return float(np.cumsum(a)[-1]) if a.size else 0.0


def _change(x: np.ndarray, last: int, lag: int) -> tuple[float, float]:
    if lag <= 0 or last - lag < 0 or not np.isfinite(x[last - lag]):
        return np.nan, np.nan
    prev = x[last - lag]
    pct = (x[last] / prev - 1.0) * 100.0 if prev != 0.0 else np.nan
    return x[last] - prev, pct


def _slope(x: np.ndarray, last: int, k: int) -> float:
    if k < 2 or last - k + 1 < 0:
        return np.nan
    w = x[last - k + 1: last + 1]
    if not np.all(np.isfinite(w)):
        return np.nan
    mean_x = _seq_sum(w) / k
    dt = np.arange(k, dtype=np.float64) - (k - 1) / 2.0
    return _seq_sum(dt * (w - mean_x)) / _seq_sum(dt * dt)


def _zscore(x: np.ndarray, last: int, window: int, min_count: int) -> float:
    w = x[max(0, last - window + 1): last + 1]
    w = w[np.isfinite(w)]
    if w.size < max(min_count, 2):
        return np.nan
    mean = _seq_sum(w) / w.size
    sd = np.sqrt(_seq_sum((w - mean) * (w - mean)) / w.size)
    return (x[last] - mean) / sd if sd > 0.0 else np.nan


def _turns(x: np.ndarray, last: int, w: int, out: np.ndarray) -> None:
    if w < 1:
        return
    i = 0
    while i <= last:
        end = i
        if np.isfinite(x[i]):
            while end + 1 <= last and x[end + 1] == x[i]:
                end += 1
        if np.isfinite(x[i]) and i - w >= 0 and end + w <= last:
            around = np.concatenate([x[i - w: i], x[end + 1: end + w + 1]])
            if np.all(np.isfinite(around)):
                if np.all(around < x[i]):
                    out[i] = 1
                elif np.all(around > x[i]):
                    out[i] = -1
        i = end + 1


def reference_stats(values: np.ndarray, p: StatParams) -> tuple[np.ndarray, np.ndarray]:
    """The numpy reference of `native_stats` (same definitions, row by row)."""
    values = np.asarray(values, dtype=np.float64)
    rows, cols = values.shape
    stats = np.full((rows, len(STAT_COLUMNS)), np.nan)
    turns = np.zeros((rows, cols), dtype=np.int8)
    for r in range(rows):
        x = values[r]
        valid = np.flatnonzero(np.isfinite(x))
        if valid.size == 0:
            continue
        last = int(valid[-1])
        stats[r, 0] = x[last]
        stats[r, 1:3] = _change(x, last, p.pop_lag)
        stats[r, 3:5] = _change(x, last, p.yoy_lag)
        for s, k in enumerate(p.slope_windows):
            stats[r, 5 + s] = _slope(x, last, k)
        stats[r, 8] = _zscore(x, last, p.z_window, p.z_min)
        stats[r, 9] = last
        _turns(x, last, p.turn_window, turns[r])
    return stats, turns


def _index(frequency: str, d: date) -> int:
    return d.year if frequency == "A" else d.year * 12 + d.month - 1


def _from_index(frequency: str, i: int) -> date:
    return date(i, 1, 1) if frequency == "A" else date(i // 12, i % 12 + 1, 1)


def to_matrix(frequency: str, series: list[list[Observation]]) -> tuple[np.ndarray, int]:
    """Rows of equal length on one grid, NaN-padded; returns the matrix and the grid index
    of its first column."""
    nonempty = [s for s in series if s]
    if not nonempty:
        return np.full((len(series), 0), np.nan), 0
    first = min(_index(frequency, s[0].date) for s in nonempty)
    last = max(_index(frequency, s[-1].date) for s in nonempty)
    m = np.full((len(series), last - first + 1), np.nan)
    for r, s in enumerate(series):
        for o in s:
            m[r, _index(frequency, o.date) - first] = o.value
    return m, first


def _opt(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


def compute_stats(grids: list[tuple[SeriesSpec, list[Observation], bool]], today: date,
                  *, native: bool = True) -> list[SeriesStats]:
    """Statistics for each (spec, gridded observations, reused?) triple, monthly and annual
    series batched separately. Series without any value are left out."""
    out: dict[str, SeriesStats] = {}
    groups: tuple[tuple[Literal["M", "A"], StatParams], ...] = (("M", MONTHLY), ("A", ANNUAL))
    for frequency, params in groups:
        group = [(s, obs, reused) for s, obs, reused in grids
                 if (s.frequency == "A") == (frequency == "A") and obs]
        if not group:
            continue
        matrix, first = to_matrix(frequency, [obs for _, obs, _ in group])
        stats, turns = (native_stats if native else reference_stats)(matrix, params)
        for r, (spec, _obs, reused) in enumerate(group):
            row = stats[r]
            last_period = _from_index(frequency, first + int(row[9]))
            pct = spec.change == "pct"
            points = [
                TurningPoint(date=_from_index(frequency, first + int(c)),
                             kind="peak" if turns[r, c] > 0 else "trough",
                             value=float(matrix[r, c]))
                for c in np.flatnonzero(turns[r])
            ]
            out[spec.id] = SeriesStats(
                id=spec.id, name=spec.name, source=spec.source, unit=spec.unit,
                frequency=frequency, change_unit="%" if pct else "pp",
                last_period=last_period, latest=float(row[0]),
                pop=_opt(row[2] if pct else row[1]), yoy=_opt(row[4] if pct else row[3]),
                slope_3=_opt(row[5]), slope_6=_opt(row[6]), slope_12=_opt(row[7]),
                zscore_5y=_opt(row[8]), turning_points=points,
                data_age_days=max(0, (today - period_end(frequency, last_period)).days),
                reused=reused,
            )
    return [out[s.id] for s, _, _ in grids if s.id in out]
