"""Real-time order notices as the agents see them: the broker told us an order was
acknowledged, filled (partly or wholly), refused, or that a cancel or revision went through.
Venue-neutral: the KIS adapter translates its stream into these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from quartz_cli.domain.orders import Side


class NoticeKind(str, Enum):
    """What a notice reports."""

    ACK = "ack"              # the order (or a revise/cancel of it) was accepted
    FILL = "fill"            # some or all of the order traded
    REJECT = "reject"        # the broker or the exchange refused it after it was sent
    CANCELLED = "cancelled"  # a cancel (or an IOC/FOK remainder) was confirmed


@dataclass(frozen=True)
class OrderNotice:
    """One notice. For a FILL, `qty` and `price` are this fill's (not cumulative); for an
    ACK they are the order's."""

    kind: NoticeKind
    order_no: str
    side: Side
    ticker: str
    qty: int
    price: int
    at: datetime
    received_at: float = 0.0   # monotonic seconds when the frame arrived (latency figures)
