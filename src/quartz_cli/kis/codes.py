"""KIS codes, translated both ways in this one module: the domain speaks `Side` and
`OrderType`, KIS speaks division codes, Y/N flags and message codes. Nothing outside the
adapter (and the simulator, which plays KIS) names any of these."""

from __future__ import annotations

from quartz_cli.domain.bars import Period
from quartz_cli.domain.notices import NoticeKind
from quartz_cli.domain.orders import OrderType, Side

# ORD_DVSN (order division) of `order-cash` and `order-rvsecncl`, ORD_DVSN_CD in inquiries.
# KIS has more divisions (conditional limit, best price, ...); Quartz sends only these two.
_ORDER_TYPE_CODE = {OrderType.LIMIT: "00", OrderType.MARKET: "01"}
_CODE_ORDER_TYPE = {code: t for t, code in _ORDER_TYPE_CODE.items()}

# FID_PERIOD_DIV_CODE of the period chart.
_PERIOD_CODE = {Period.DAY: "D", Period.WEEK: "W", Period.MONTH: "M"}

# SLL_BUY_DVSN_CD (sell/buy division) of the order inquiries; "00" asks for both.
_SIDE_CODE = {Side.SELL: "01", Side.BUY: "02"}
_CODE_SIDE = {code: s for s, code in _SIDE_CODE.items()}
BOTH_SIDES = "00"

# ORD_DVSN that `order-rvsecncl` wants on a cancel (whatever the original's division).
CANCEL_ORDER_DIVISION = "00"
# SLL_TYPE of a cash sell: 01 an ordinary sell.
ORDINARY_SELL = "01"
# RVSE_CNCL_DVSN_CD of `order-rvsecncl`.
REVISE = "01"
CANCEL = "02"
# CCLD_DVSN (execution division) of `inquire-daily-ccld`: every order, or unfilled only.
ALL_ORDERS = "00"
UNFILLED_ONLY = "02"
# EXCG_ID_DVSN_CD: the exchange an order is routed to.
EXCHANGE = "KRX"

# msg_cd values with a meaning Quartz acts on (errors.py holds the typed errors).
RATE_LIMIT_CODES = frozenset({"EGW00201", "EGW00215"})
TOKEN_REJECTED_CODES = frozenset({"EGW00123", "EGW00121"})
TOKEN_THROTTLED_CODE = "EGW00133"
BAD_APP_KEY_CODES = frozenset({"EGW00103", "EGW00105"})


def order_type_code(order_type: OrderType) -> str:
    """ORD_DVSN for `order_type`."""
    return _ORDER_TYPE_CODE[order_type]


def order_type_of(code: str) -> OrderType | None:
    """The order type of an ORD_DVSN_CD; None for a division Quartz does not send."""
    return _CODE_ORDER_TYPE.get(code.strip())


def period_code(period: Period) -> str:
    """FID_PERIOD_DIV_CODE for `period`."""
    return _PERIOD_CODE[period]


def side_code(side: Side | None) -> str:
    """SLL_BUY_DVSN_CD for an inquiry: one side, or both when `side` is None."""
    return _SIDE_CODE[side] if side is not None else BOTH_SIDES


def side_of(code: str) -> Side:
    """The side of an inquiry row's sll_buy_dvsn_cd (01 sell, 02 buy; KIS sends no other)."""
    return _CODE_SIDE.get(code, Side.BUY)


def yes_no(flag: bool) -> str:
    """KIS's Y/N flag."""
    return "Y" if flag else "N"


def is_yes(value: object) -> bool:
    """True for KIS's Y (any case); N, blank or missing are False."""
    return str(value or "").strip().upper() == "Y"


# --- real-time order notices (H0STCNI0 / H0STCNI9) --------------------------------------------
# RFUS_YN 1 = refused; CNTG_YN 1 = an order/revise/cancel/refusal notice, 2 = a fill;
# ACPT_YN 3 = an IOC/FOK remainder cancelled; RCTF_CLS 2 = a cancel (1 a revision).
NOTICE_REFUSED = "1"
NOTICE_ORDER, NOTICE_FILL = "1", "2"
NOTICE_REMAINDER_CANCELLED = "3"
NOTICE_CANCEL = "2"


def notice_kind(refused: str, fill_flag: str, accept_flag: str,
                correction: str) -> NoticeKind | None:
    """What an order notice reports, from its RFUS_YN, CNTG_YN, ACPT_YN and RCTF_CLS flags;
    None when CNTG_YN is neither 1 nor 2 (a layout Quartz does not know)."""
    if fill_flag not in (NOTICE_ORDER, NOTICE_FILL):
        return None
    if refused == NOTICE_REFUSED:
        return NoticeKind.REJECT
    if fill_flag == NOTICE_FILL:
        return NoticeKind.FILL
    if accept_flag == NOTICE_REMAINDER_CANCELLED or correction == NOTICE_CANCEL:
        return NoticeKind.CANCELLED
    return NoticeKind.ACK


def notice_side(code: str) -> Side | None:
    """The side of a notice's SELN_BYOV_CLS (01 sell, 02 buy); None for anything else."""
    return _CODE_SIDE.get(code.strip())
