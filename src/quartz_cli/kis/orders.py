"""KIS order APIs: cash buy/sell (`order-cash`), revise/cancel (`order-rvsecncl`) and the
cancellable-orders inquiry. Order answers carry UPPERCASE keys in KIS's examples (`ODNO`,
`KRX_FWDG_ORD_ORGNO`); like every output they are read in lower case (`KisResponse.output`).

These functions send exactly once: they never retry an order themselves beyond what
`KisClient` does for calls the broker certainly refused (EGW00201, a rejected token).
A timeout after sending raises `BrokerUnavailable(maybe_sent=True)`; deciding what that means
is the trading agent's job (reconcile, never re-send)."""

from __future__ import annotations

from datetime import date

from quartz_cli.config import Account
from quartz_cli.domain.orders import OpenOrder, OrderTicket, OrderType, Side
from quartz_cli.errors import BrokerError
from quartz_cli.kis import codes
from quartz_cli.kis.account import unfilled_orders
from quartz_cli.kis.client import KisClient
from quartz_cli.kis.envelope import KisResponse

ORDER_CASH = "/uapi/domestic-stock/v1/trading/order-cash"
ORDER_RVSECNCL = "/uapi/domestic-stock/v1/trading/order-rvsecncl"
PSBL_RVSECNCL = "/uapi/domestic-stock/v1/trading/inquire-psbl-rvsecncl"

TR_SELL = "TTTC0011U"
TR_BUY = "TTTC0012U"
TR_RVSECNCL = "TTTC0013U"
TR_PSBL_RVSECNCL = "TTTC0084R"   # real domain only


def _ticket(resp: KisResponse) -> OrderTicket:
    out = resp.output("output")
    if not isinstance(out, dict) or not out.get("odno"):
        raise BrokerError(f"KIS order answer without an order number ({resp.msg_cd})")
    return OrderTicket(order_no=str(out["odno"]), org_no=str(out.get("krx_fwdg_ord_orgno", "")),
                       ordered_at=str(out.get("ord_tmd", "")), code=resp.msg_cd,
                       message=resp.msg)


def cash_order_body(account: Account, ticker: str, qty: int, order_type: OrderType,
                    price: int) -> dict[str, str]:
    """The `order-cash` body: UPPERCASE keys, every value a string, price "0" for market."""
    return {
        "CANO": account.cano,
        "ACNT_PRDT_CD": account.product,
        "PDNO": ticker,
        "ORD_DVSN": codes.order_type_code(order_type),
        "ORD_QTY": str(qty),
        "ORD_UNPR": str(price if order_type is OrderType.LIMIT else 0),
        "EXCG_ID_DVSN_CD": codes.EXCHANGE,
    }


async def place_cash_order(kis: KisClient, account: Account, side: Side, ticker: str,
                           qty: int, order_type: OrderType, price: int = 0, *,
                           hashkey: bool = False) -> OrderTicket:
    """Send one cash buy (TTTC0012U) or sell (TTTC0011U); paper/local use the V… TR_IDs."""
    body = cash_order_body(account, ticker, qty, order_type, price)
    if side is Side.SELL:
        body["SLL_TYPE"] = codes.ORDINARY_SELL
    tr = TR_BUY if side is Side.BUY else TR_SELL
    return _ticket(await kis.post(ORDER_CASH, tr, body, hashkey=hashkey))


async def revise_or_cancel(kis: KisClient, account: Account, org_no: str, order_no: str, *,
                           cancel: bool, qty: int = 0, price: int = 0,
                           order_type: OrderType = OrderType.LIMIT,
                           hashkey: bool = False) -> OrderTicket:
    """`order-rvsecncl` (TTTC0013U). `qty` 0 = the whole remaining quantity. A cancel sends
    ORD_DVSN 00 and price 0; a revise sends the new limit price."""
    body = {
        "CANO": account.cano,
        "ACNT_PRDT_CD": account.product,
        "KRX_FWDG_ORD_ORGNO": org_no,
        "ORGN_ODNO": order_no,
        "ORD_DVSN": codes.CANCEL_ORDER_DIVISION if cancel else codes.order_type_code(order_type),
        "RVSE_CNCL_DVSN_CD": codes.CANCEL if cancel else codes.REVISE,
        "ORD_QTY": str(qty),
        "ORD_UNPR": "0" if cancel else str(price),
        "QTY_ALL_ORD_YN": codes.yes_no(qty == 0),
        "EXCG_ID_DVSN_CD": codes.EXCHANGE,
    }
    return _ticket(await kis.post(ORDER_RVSECNCL, TR_RVSECNCL, body, hashkey=hashkey))


async def cancelable_orders(kis: KisClient, account: Account, today: date) -> list[OpenOrder]:
    """Orders with a cancellable remainder. The real domain has `inquire-psbl-rvsecncl`;
    paper has no such TR, so there (and in local) open orders come from the daily order
    inquiry with CCLD_DVSN 02 (unfilled)."""
    if kis.endpoint.real_tr_ids:
        pages = await kis.paged_get(PSBL_RVSECNCL, TR_PSBL_RVSECNCL, {
            "CANO": account.cano, "ACNT_PRDT_CD": account.product,
            "INQR_DVSN_1": "0", "INQR_DVSN_2": "0"})
        out = []
        for page in pages:
            for r in page.output("output") or []:
                out.append(OpenOrder(
                    order_no=r["odno"], org_no=r.get("ord_gno_brno", ""), ticker=r["pdno"],
                    name=r.get("prdt_name", ""), side=codes.side_of(r.get("sll_buy_dvsn_cd", "")),
                    order_type=r.get("ord_dvsn_name", ""), qty=int(r["ord_qty"]),
                    price=int(float(r.get("ord_unpr") or 0)),
                    filled_qty=int(r.get("tot_ccld_qty") or 0),
                    cancelable_qty=int(r.get("psbl_qty") or 0),
                    ordered_at=r.get("ord_tmd", "")))
        return out
    return await unfilled_orders(kis, account, today)
