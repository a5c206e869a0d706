"""Fibonacci retracement levels between a swing high and a swing low (not in TA-Lib)."""

from __future__ import annotations

from quartz_cli.indicators.spec import FIB_RATIOS


def retracement_levels(swing_high: float, swing_low: float,
                       ratios: tuple[float, ...] = FIB_RATIOS) -> dict[str, float]:
    """Level prices keyed by percent ("23.6"): 0 % is the swing high and 100 % the swing low,
    i.e. retracements measured down from the high."""
    span = swing_high - swing_low
    return {f"{r * 100:g}": swing_high - r * span for r in ratios}
