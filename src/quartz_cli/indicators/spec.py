"""The indicator set Quartz reads, its parameters, and where each output is first defined.

Bar indices start at 0; a series is NaN before its first defined bar, exactly as TA-Lib."""

from __future__ import annotations

SMA_PERIODS: tuple[int, ...] = (5, 10, 20)
RSI_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
BB_PERIOD = 20
BB_K = 2.0
# Fibonacci retracement: swing high/low over this many bars (about three months of sessions).
SWING_LOOKBACK = 60
FIB_RATIOS: tuple[float, ...] = (0.0, 0.236, 0.382, 0.5, 0.618, 0.786, 1.0)

# The series of `quartz_cli._native.technical_batch`, in its output order.
SERIES: tuple[str, ...] = (
    "sma5", "sma10", "sma20", "rsi14", "macd", "macd_signal", "macd_hist",
    "bb_upper", "bb_middle", "bb_lower", "swing_high", "swing_low",
)


def first_defined_bar(name: str, swing_lookback: int = SWING_LOOKBACK) -> int:
    """Index of the first non-NaN bar of a series (its warm-up length)."""
    if name.startswith("sma"):
        return int(name[3:]) - 1
    if name == "rsi14":
        return RSI_PERIOD
    if name.startswith("macd"):
        return MACD_SLOW + MACD_SIGNAL - 2
    if name.startswith("bb_"):
        return BB_PERIOD - 1
    if name in ("swing_high", "swing_low"):
        return swing_lookback - 1
    raise KeyError(name)


def bars_needed(name: str, swing_lookback: int = SWING_LOOKBACK) -> int:
    """How many bars a series needs before it has a value at the last bar."""
    return first_defined_bar(name, swing_lookback) + 1
