"""Orders as the agents exchange them: the request (the seed's message), its lifecycle states,
and the outcome. The `OrderExecutor` port that carries them is in `quartz_cli.ports`."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from quartz_cli.domain.krx import is_on_tick, normalize_ticker

_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$")


class OrderAction(str, Enum):
    BUY = "buy"
    SELL = "sell"
    CANCEL = "cancel"


class OrderType(str, Enum):
    MARKET = "market"
    LIMIT = "limit"


class OrderState(str, Enum):
    """received → sent → accepted / rejected / unknown → filled / cancelled / reconciled.

    `unknown` means the request may have reached the broker (a timeout after send); it is
    resolved only by the broker's daily order inquiry, never by sending again."""

    RECEIVED = "received"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    FILLED = "filled"
    CANCELLED = "cancelled"
    RECONCILED = "reconciled"


# A request in one of these states has a known result at the broker (booked or not).
RESOLVED_STATES = frozenset({OrderState.ACCEPTED, OrderState.REJECTED, OrderState.FILLED,
                             OrderState.CANCELLED, OrderState.RECONCILED})
# Booked at the broker (an order number exists).
BOOKED_STATES = frozenset({OrderState.ACCEPTED, OrderState.FILLED, OrderState.CANCELLED,
                           OrderState.RECONCILED})


class OrderRequest(BaseModel):
    """One order instruction. `request_id` makes it idempotent: the same id is executed at
    most once, and asking again returns the stored outcome.

    For `cancel`, `order_no` names the broker order to cancel (`qty` 0 = all that remains)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    action: OrderAction
    ticker: str = ""
    qty: int = Field(default=0, ge=0)
    order_type: OrderType = OrderType.MARKET
    price: int = Field(default=0, ge=0)
    timestamp: datetime
    order_no: str | None = None

    @field_validator("request_id")
    @classmethod
    def _rid(cls, v: str) -> str:
        if not _REQUEST_ID.match(v):
            raise ValueError("must be 1-80 characters of letters, digits, '.', '_', ':' or '-'")
        return v

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("must carry a time zone (e.g. 2026-11-24T01:00:00Z)")
        return v.astimezone(UTC)

    @field_validator("ticker")
    @classmethod
    def _ticker(cls, v: str) -> str:
        return normalize_ticker(v) if v else v

    @model_validator(mode="after")
    def _consistent(self) -> OrderRequest:
        if self.action is OrderAction.CANCEL:
            if not self.order_no or not self.order_no.strip().isdigit():
                raise ValueError("a cancel needs order_no, the broker's order number (digits)")
            return self
        if not self.ticker:
            raise ValueError("a buy or sell needs a ticker")
        if self.qty < 1:
            raise ValueError("qty must be a whole number of shares, at least 1")
        if self.order_type is OrderType.MARKET and self.price != 0:
            raise ValueError("a market order carries price 0")
        if self.order_type is OrderType.LIMIT:
            if self.price <= 0:
                raise ValueError("a limit order needs a positive price in won")
            if not is_on_tick(self.price):
                raise ValueError(f"price {self.price} is not on the KRX tick grid")
        return self

    def fingerprint(self) -> str:
        """A digest of what the order does (not when it was asked), to detect a request_id
        reused for a different order."""
        core = self.model_dump(mode="json", exclude={"timestamp"})
        return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:32]


class OrderOutcome(BaseModel):
    """What happened to a request: its state, the broker's order number once booked, fills."""

    model_config = ConfigDict(extra="forbid")

    request_id: str
    state: OrderState
    action: OrderAction
    ticker: str = ""
    qty: int = 0
    order_type: OrderType = OrderType.MARKET
    price: int = 0
    order_no: str | None = None
    org_no: str | None = None
    filled_qty: int = 0
    avg_fill_price: int | None = None
    attempts: int = 0
    code: str | None = None
    message: str = ""
    updated_at: datetime
    env: str = ""

    @property
    def resolved(self) -> bool:
        """True when the broker-side result is known (booked or certainly not)."""
        return self.state in RESOLVED_STATES

    @property
    def booked(self) -> bool:
        return self.state in BOOKED_STATES


@dataclass(frozen=True)
class OrderTicket:
    """The broker's acknowledgement of an order: what is needed to find or cancel it."""

    order_no: str
    org_no: str
    ordered_at: str      # HHMMSS, KST
    msg_cd: str
    message: str


class OpenOrder(BaseModel):
    """A broker order that can still be cancelled (part of it unfilled)."""

    model_config = ConfigDict(extra="forbid")

    order_no: str
    org_no: str
    ticker: str
    name: str = ""
    side: OrderAction
    order_type: str
    qty: int
    price: int
    filled_qty: int
    cancelable_qty: int
    ordered_at: str

