"""Exit rules for held positions (stop-loss, take-profit) and the rebalance check cadence.

These are rules, not LLM opinions: a position whose price has fallen `stop_loss_pct` or risen
`take_profit_pct` from its average purchase price is proposed for a full sale, with confidence
1, and the proposal then goes through the same risk gate as any other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum

from quartz_cli.domain.decision import PortfolioView, Proposal
from quartz_cli.domain.orders import Side


class ExitKind(str, Enum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


@dataclass(frozen=True)
class ExitRules:
    """Thresholds in percent against the average purchase price (−5 and +15 by default)."""

    stop_loss_pct: Decimal = Decimal("-5")
    take_profit_pct: Decimal = Decimal("15")

    def __post_init__(self) -> None:
        if not self.stop_loss_pct < 0 < self.take_profit_pct:
            raise ValueError("stop-loss must be below 0 % and take-profit above 0 %")


@dataclass(frozen=True)
class ExitSignal:
    ticker: str
    kind: ExitKind
    pnl_pct: Decimal
    proposal: Proposal


def pnl_pct(avg_price: int, price: int) -> Decimal:
    """Unrealised P&L in percent of the average purchase price, two decimals."""
    return ((Decimal(price) - avg_price) * 100 / Decimal(avg_price)).quantize(Decimal("0.01"))


def exit_signals(portfolio: PortfolioView, rules: ExitRules) -> list[ExitSignal]:
    """Positions that crossed a threshold, each with a full-sale proposal."""
    out = []
    for pos in portfolio.positions:
        if pos.qty <= 0 or pos.avg_price <= 0 or pos.price <= 0:
            continue
        pnl = pnl_pct(pos.avg_price, pos.price)
        if pnl <= rules.stop_loss_pct:
            kind, label = ExitKind.STOP_LOSS, f"stop-loss: {pnl}% ≤ {rules.stop_loss_pct}%"
        elif pnl >= rules.take_profit_pct:
            kind, label = ExitKind.TAKE_PROFIT, f"take-profit: {pnl}% ≥ {rules.take_profit_pct}%"
        else:
            continue
        rationale = (f"{label} against the average purchase price {pos.avg_price:,} "
                     f"(now {pos.price:,})")
        out.append(ExitSignal(pos.ticker, kind, pnl, Proposal(
            ticker=pos.ticker, side=Side.SELL, target_weight=0.0, confidence=1.0,
            rationale=rationale)))
    return out


MIN_INTERVAL = timedelta(minutes=5)
MAX_INTERVAL = timedelta(minutes=10)


def volume_pace(volume_today: int, avg_daily_volume: float, session_fraction: float) -> float:
    """Today's traded volume relative to what an average day has traded by this point of the
    session (1.0 = a normal day). 0 when nothing is known."""
    if avg_daily_volume <= 0 or session_fraction <= 0:
        return 0.0
    return volume_today / (avg_daily_volume * min(session_fraction, 1.0))


def next_check_interval(pace: float) -> timedelta:
    """The seed's 5–10 minutes, shorter when the held tickers trade busily: 10 min at a pace
    of 0.5 or less, 5 min at 2.0 or more, linear in between, rounded to the minute."""
    busy = min(max((pace - 0.5) / 1.5, 0.0), 1.0)
    minutes = 10 - 5 * busy
    return timedelta(minutes=round(minutes))


# A scheduled run a little early (cron's minute, a pod's start-up) still counts as due.
DUE_SLACK = timedelta(seconds=60)


@dataclass(frozen=True)
class RebalanceSchedule:
    """When the last rebalance ran and the interval it computed: the next run is due then.
    A CronJob fires every 5 minutes; runs the interval does not call for are skipped."""

    last_run_at: datetime
    interval: timedelta

    @property
    def due_at(self) -> datetime:
        return self.last_run_at + self.interval

    def is_due(self, now: datetime) -> bool:
        # A clock that went backwards (a restored host) must not stop the checks.
        return now >= self.due_at - DUE_SLACK or now < self.last_run_at

    def to_json(self) -> bytes:
        return json.dumps({"last_run_at": self.last_run_at.astimezone(UTC).isoformat(),
                           "interval_minutes": self.interval / timedelta(minutes=1),
                           "due_at": self.due_at.astimezone(UTC).isoformat()}).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> RebalanceSchedule | None:
        """The stored schedule; None when it is unreadable (the run then goes ahead)."""
        try:
            d = json.loads(raw)
            return cls(datetime.fromisoformat(d["last_run_at"]),
                       timedelta(minutes=float(d["interval_minutes"])))
        except (ValueError, KeyError, TypeError):
            return None
