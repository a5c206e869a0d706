"""Performance of an equity curve and of the round trips behind it. Pure.

Returns are simple session-to-session returns of the value at each session's close; a year
is 252 sessions; the risk-free rate is taken as zero. Volatility is the sample standard
deviation (n − 1) annualised by √252; Sharpe is the mean return over that deviation × √252;
Sortino the mean over the downside deviation √(mean(min(r, 0)²)) × √252. The maximum
drawdown is the largest fall from a running peak, its duration the longest run of sessions
spent below a peak (to the recovery, or to the end when there is none)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from quartz_cli.domain.fills import Fill
from quartz_cli.domain.orders import Side

YEAR = 252


@dataclass(frozen=True)
class RoundTrip:
    """A position from flat back to flat: its net P&L after every cost, in won."""

    ticker: str
    opened: str
    closed: str
    pnl: int


@dataclass(frozen=True)
class Performance:
    """The report's figures; ratios as fractions (0.05 = 5 %), None when undefined."""

    sessions: int
    start_value: int
    end_value: int
    total_return: float
    annual_return: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    max_drawdown_sessions: int
    turnover: float
    fees_krw: int
    tax_krw: int
    trades: int
    round_trips: int
    win_rate: float | None
    avg_win_krw: float | None
    avg_loss_krw: float | None
    exposure: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def returns(equity: Sequence[int]) -> list[float]:
    """Simple returns between consecutive values."""
    return [b / a - 1 for a, b in itertools.pairwise(equity) if a > 0]


def drawdown(equity: Sequence[int]) -> list[float]:
    """The fall from the running peak at each point (0 at a peak, 0.1 = 10 % below it)."""
    out, peak = [], 0
    for v in equity:
        peak = max(peak, v)
        out.append(1 - v / peak if peak > 0 else 0.0)
    return out


def max_drawdown_duration(equity: Sequence[int]) -> int:
    """The longest run of sessions spent below a previous peak."""
    longest = run = 0
    for dd in drawdown(equity):
        run = run + 1 if dd > 0 else 0
        longest = max(longest, run)
    return longest


def round_trips(fills: Sequence[Fill]) -> list[RoundTrip]:
    """Round trips from fills in time order: a trip opens with a buy into a flat position
    and closes when the position is flat again; its P&L is every cash effect in between."""
    held: dict[str, int] = {}
    cash: dict[str, int] = {}
    opened: dict[str, str] = {}
    out = []
    for f in fills:
        if f.qty == 0:
            continue
        if held.get(f.ticker, 0) == 0:
            opened[f.ticker] = f.day.isoformat()
            cash[f.ticker] = 0
        held[f.ticker] = held.get(f.ticker, 0) + (f.qty if f.side is Side.BUY else -f.qty)
        cash[f.ticker] += f.cash_effect
        if held[f.ticker] == 0:
            out.append(RoundTrip(f.ticker, opened[f.ticker], f.day.isoformat(), cash[f.ticker]))
    return out


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def performance(equity: Sequence[int], fills: Sequence[Fill],
                invested: Sequence[int] | None = None) -> Performance:
    """The figures of `equity` (value at each session's close, the first being the start),
    with `fills` in time order and `invested` the value held in shares at each close
    (exposure is its mean share of the value; 0 when not given)."""
    if not equity:
        raise ValueError("an equity curve needs at least its starting value")
    r = returns(equity)
    n = len(r)
    total = equity[-1] / equity[0] - 1 if equity[0] else 0.0
    annual = (1 + total) ** (YEAR / n) - 1 if n and total > -1 else None
    vol = sharpe = sortino = None
    if n >= 2:
        mean = _mean(r)
        sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (n - 1))
        vol = sd * math.sqrt(YEAR)
        sharpe = mean / sd * math.sqrt(YEAR) if sd > 0 else None
        down = math.sqrt(_mean([min(x, 0.0) ** 2 for x in r]))
        sortino = mean / down * math.sqrt(YEAR) if down > 0 else None
    traded = [f for f in fills if f.qty]
    trips = round_trips(traded)
    wins = [t.pnl for t in trips if t.pnl > 0]
    losses = [t.pnl for t in trips if t.pnl <= 0]
    exposure = 0.0
    if invested:
        exposure = _mean([i / v if v else 0.0 for i, v in zip(invested, equity, strict=False)])
    return Performance(
        sessions=n, start_value=equity[0], end_value=equity[-1], total_return=total,
        annual_return=annual, volatility=vol, sharpe=sharpe, sortino=sortino,
        max_drawdown=max(drawdown(equity)), max_drawdown_sessions=max_drawdown_duration(equity),
        turnover=sum(f.notional for f in traded) / _mean(equity) if _mean(equity) else 0.0,
        fees_krw=sum(f.commission for f in traded), tax_krw=sum(f.tax for f in traded),
        trades=len(traded), round_trips=len(trips),
        win_rate=len(wins) / len(trips) if trips else None,
        avg_win_krw=_mean(wins) if wins else None,
        avg_loss_krw=_mean(losses) if losses else None, exposure=exposure)
