"""Orders as the agents exchange them: the side, the request (the seed's message), its
lifecycle states, the outcome and the broker's venue-neutral reports. The `OrderExecutor` port
that carries them is in `quartz_cli.ports`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from quartz_cli.domain.krx import is_on_tick, normalize_ticker

# Matched whole (fullmatch): `$` would also accept a trailing newline.
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,79}")


class Side(str, Enum):
    """Which way an order trades: one enum from the engine's answer to the broker adapter.
    Engines and the decision plan spell it BUY/SELL; the order messages of the trading
    server spell it buy/sell (see `MessageSide`), and the KIS adapter translates it to codes."""

    BUY = "BUY"
    SELL = "SELL"


_MESSAGE_SPELLING = {Side.BUY: "buy", Side.SELL: "sell"}
_MESSAGE_SIDE = {word: side for side, word in _MESSAGE_SPELLING.items()}
CANCEL_ACTION = "cancel"


def _side_in_message(value: object) -> Side:
    if isinstance(value, Side):
        return value
    side = _MESSAGE_SIDE.get(value) if isinstance(value, str) else None
    if side is None:
        raise PydanticCustomError("enum", "Input should be 'buy' or 'sell'",
                                  {"expected": "'buy' or 'sell'"})
    return side


def _action_in_message(value: object) -> Side | None:
    """An order message's `action`: buy or sell, or cancel (None: no side, a cancel)."""
    if value is None or value == CANCEL_ACTION:
        return None
    if isinstance(value, Side) or value in _MESSAGE_SIDE:
        return _side_in_message(value)
    raise PydanticCustomError("enum", "Input should be 'buy', 'sell' or 'cancel'",
                              {"expected": "'buy', 'sell' or 'cancel'"})


def action_word(side: Side | None) -> str:
    """An order message's `action` for `side`: buy, sell, or cancel for None."""
    return CANCEL_ACTION if side is None else _MESSAGE_SPELLING[side]


# A side as the order messages spell it (buy, sell).
MessageSide = Annotated[Side, PlainValidator(_side_in_message, json_schema_input_type=str),
                        PlainSerializer(_MESSAGE_SPELLING.__getitem__, return_type=str)]
# The `action` of an order message: a side, or None for a cancel (spelled buy/sell/cancel).
MessageAction = Annotated[Side | None,
                          PlainValidator(_action_in_message, json_schema_input_type=str),
                          PlainSerializer(action_word, return_type=str)]


class _OrderMessage(BaseModel):
    """A model whose `side` travels as the message's `action` (buy, sell or cancel)."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    @model_serializer(mode="wrap")
    def _always_action(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if "action" in data:
            return data
        # `exclude_none` drops a cancel's side (None); the message still names its action.
        out: dict[str, Any] = {}
        for key, value in data.items():
            out[key] = value
            if key == "request_id":
                # Each subclass declares `side`; this base class has no such field.
                out["action"] = action_word(getattr(self, "side"))  # noqa: B009
        return out


class OrderType(str, Enum):
    MARKET = "market"
    LIMIT = "limit"


class OrderState(str, Enum):
    """received → sent → accepted / rejected / unknown; accepted → filled / cancelled;
    unknown → reconciled (found at the broker) / expired (provably never booked).

    `unknown` means the request may have reached the broker (a timeout after send, a 5xx, a
    process killed mid-call); it counts as in flight at its full size and is resolved only by
    the broker's daily order inquiry, never by sending again. `expired` closes it as not
    booked once its session is over and an inquiry made after that found no match."""

    RECEIVED = "received"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    FILLED = "filled"
    CANCELLED = "cancelled"
    RECONCILED = "reconciled"
    EXPIRED = "expired"


# A request in one of these states has a known result at the broker (booked or not).
RESOLVED_STATES = frozenset({OrderState.ACCEPTED, OrderState.REJECTED, OrderState.FILLED,
                             OrderState.CANCELLED, OrderState.RECONCILED, OrderState.EXPIRED})
# Booked at the broker (an order number exists).
BOOKED_STATES = frozenset({OrderState.ACCEPTED, OrderState.FILLED, OrderState.CANCELLED,
                           OrderState.RECONCILED})


class OrderRequest(_OrderMessage):
    """One order instruction. `request_id` makes it idempotent: the same id is executed at
    most once, and asking again returns the stored outcome.

    A request either trades (`side` BUY or SELL) or cancels (`side` None, spelled `cancel`
    in the message): `order_no` names the broker order to cancel (`qty` 0 = all that
    remains).

    The numbers are strict: `true`, `"1"` and `1.0` are refused, never read as 1."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    side: MessageAction = Field(alias="action")
    ticker: str = ""
    qty: int = Field(default=0, ge=0, strict=True)
    order_type: OrderType = OrderType.MARKET
    price: int = Field(default=0, ge=0, strict=True)
    timestamp: datetime
    order_no: str | None = None

    @field_validator("request_id")
    @classmethod
    def _rid(cls, v: str) -> str:
        if not _REQUEST_ID.fullmatch(v):
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

    @property
    def is_cancel(self) -> bool:
        """True for a cancel request (it has no side)."""
        return self.side is None

    @model_validator(mode="after")
    def _consistent(self) -> OrderRequest:
        if self.is_cancel:
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


class OrderOutcome(_OrderMessage):
    """What happened to a request: its state, the broker's order number once booked, fills.
    `code` is the broker's answer code, kept as the broker sent it."""

    request_id: str
    state: OrderState
    side: MessageAction = Field(alias="action")
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
class InFlightOrder:
    """A request that may still trade: sent or unknown (at its full size), or booked today
    with an unfilled remainder (`open_qty`, per the fills the ledger last saw)."""

    request_id: str
    state: OrderState
    side: Side
    ticker: str
    qty: int
    open_qty: int
    order_type: OrderType
    price: int
    order_no: str | None
    order_date: str | None


@dataclass(frozen=True)
class OrderTicket:
    """The broker's acknowledgement of an order: what is needed to find or cancel it."""

    order_no: str
    org_no: str
    ordered_at: str      # HHMMSS, KST
    code: str            # the broker's answer code
    message: str


class OpenOrder(BaseModel):
    """A broker order that can still be cancelled (part of it unfilled)."""

    model_config = ConfigDict(extra="forbid")

    order_no: str
    org_no: str
    ticker: str
    name: str = ""
    side: MessageSide
    order_type: str
    qty: int
    price: int
    filled_qty: int
    cancelable_qty: int
    ordered_at: str


class OrderReport(BaseModel):
    """One broker order, or a revise/cancel of one, as the broker's order inquiry reports it
    (venue-neutral: the adapter translates the broker's codes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_no: str
    org_no: str
    placed_at: datetime | None = Field(description="when it was placed (KST); None if the "
                                       "broker left it blank")
    original_order_no: str | None = Field(description="the order this row revises or "
                                          "cancels; None for a new order")
    side: Side
    order_type: OrderType | None = Field(description="None for an order division Quartz "
                                         "does not send")
    ticker: str
    name: str
    qty: int
    price: int
    filled_qty: int
    filled_amount: int
    avg_fill_price: int
    remaining_qty: int
    rejected_qty: int
    cancelled: bool
    cancel_confirmed_qty: int


def cancelled_quantities(rows: Iterable[OrderReport]) -> dict[str, int]:
    """Per original order number, the quantity its cancel rows cancelled. A cancel row's
    confirmed quantity counts, or its ordered quantity when the broker left that blank."""
    out: dict[str, int] = {}
    for row in rows:
        if row.cancelled and row.original_order_no:
            qty = row.cancel_confirmed_qty or row.qty
            out[row.original_order_no] = out.get(row.original_order_no, 0) + qty
    return out


def is_cancelled(row: OrderReport, cancelled_by_rows: int) -> bool:
    """Whether an order's unfilled rest is cancelled, whichever way the broker reports it:
    on the order's own row (nothing remaining, a confirmed cancel quantity, or the cancel
    flag), or only through cancel rows (`cancelled_by_rows`, from `cancelled_quantities`)
    that cover everything not filled."""
    unfilled = row.qty - row.filled_qty
    if unfilled <= 0:
        return False
    if row.remaining_qty == 0 and row.cancel_confirmed_qty > 0:
        return True
    if row.cancelled and row.original_order_no is None:
        return True
    return cancelled_by_rows >= unfilled
