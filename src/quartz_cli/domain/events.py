"""What happened to an account, as one append-only sequence of events.

Each event has a per-account monotonic `seq`, a UTC time, a dotted `type` (one of
`EventType`), the run id and request_id it belongs to when it has them, and a small `data`
object. Account identity is the account key (`domain.account_id`), never the number."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from enum import Enum
from typing import Any

from quartz_cli.domain.orders import OrderState


class EventType(str, Enum):
    """Every event type the log holds (docs/operations.md lists them with their data)."""

    ORDER_REQUESTED = "order.requested"
    ORDER_REFUSED = "order.refused"          # by the pre-trade risk stage: never sent
    ORDER_SENT = "order.sent"
    ORDER_ACCEPTED = "order.accepted"
    ORDER_UNKNOWN = "order.unknown"
    ORDER_RETRYABLE = "order.retryable"      # back to received: provably not taken
    ORDER_RECONCILED = "order.reconciled"
    ORDER_PARTIALLY_FILLED = "order.partially_filled"
    ORDER_FILLED = "order.filled"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_REJECTED = "order.rejected"        # by the broker
    ORDER_EXPIRED = "order.expired"
    DECISION = "decision.made"
    STOP_LOSS = "exit.stop_loss"
    TAKE_PROFIT = "exit.take_profit"
    TRADING_STATE = "trading.state_changed"
    JOB_STARTED = "job.started"
    JOB_FINISHED = "job.finished"
    TOKEN_ISSUED = "token.issued"
    TOKEN_FAILED = "token.failed"
    DATA_STALE = "data.stale"


# What a process other than the account's owner reports to the owner's log (a job pod in a
# cluster): never an order event, whose only source is the owner's ledger.
REPORTED = frozenset({EventType.DECISION, EventType.STOP_LOSS, EventType.TAKE_PROFIT,
                      EventType.JOB_STARTED, EventType.JOB_FINISHED, EventType.TOKEN_ISSUED,
                      EventType.TOKEN_FAILED, EventType.DATA_STALE})


@dataclass(frozen=True)
class Event:
    """One entry of an account's event log."""

    seq: int
    at: datetime
    type: str
    account: str
    run_id: str | None = None
    request_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The event as a JSON object (what `quartz events --json` prints, one per line)."""
        return {"seq": self.seq, "at": self.at.isoformat(), "type": self.type,
                "account": self.account, "run_id": self.run_id,
                "request_id": self.request_id, "data": self.data}


_ORDER_TYPES: dict[OrderState, EventType] = {
    OrderState.RECEIVED: EventType.ORDER_REQUESTED,
    OrderState.SENT: EventType.ORDER_SENT,
    OrderState.ACCEPTED: EventType.ORDER_ACCEPTED,
    OrderState.UNKNOWN: EventType.ORDER_UNKNOWN,
    OrderState.RECONCILED: EventType.ORDER_RECONCILED,
    OrderState.FILLED: EventType.ORDER_FILLED,
    OrderState.CANCELLED: EventType.ORDER_CANCELLED,
    OrderState.REJECTED: EventType.ORDER_REJECTED,
    OrderState.EXPIRED: EventType.ORDER_EXPIRED,
}


def order_event_type(before: OrderState | None, after: OrderState, filled_before: int,
                     filled_after: int) -> EventType | None:
    """The event one ledger transition stands for, or None (a move that changed nothing a
    reader needs to hear about). A rejection before the order was ever sent is the risk
    stage's refusal; after it, the broker's. A fill quantity that grows without a state
    change is a partial fill."""
    if before is after:
        return EventType.ORDER_PARTIALLY_FILLED if filled_after > filled_before else None
    if after is OrderState.REJECTED and before is OrderState.RECEIVED:
        return EventType.ORDER_REFUSED
    if after is OrderState.RECEIVED and before is not None:
        return EventType.ORDER_RETRYABLE
    return _ORDER_TYPES[after]


@dataclass(frozen=True)
class FeeRates:
    """The configured fee and tax rates (fractions), to estimate a fill's costs."""

    buy_fee: Decimal
    sell_fee: Decimal
    sell_tax: Decimal

    def estimate(self, side: str, notional: int) -> tuple[int, int]:
        """(broker fee, transaction tax) in won, rounded up, on a fill of `notional` won."""
        def won(rate: Decimal) -> int:
            return int((Decimal(notional) * rate).to_integral_value(rounding=ROUND_CEILING))

        if side.lower() == "sell":
            return won(self.sell_fee), won(self.sell_tax)
        return won(self.buy_fee), 0
