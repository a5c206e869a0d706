"""KIS account inquiries: balance (`inquire-balance`, paged), the day's orders and executions
(`inquire-daily-ccld`, paged) and the buyable amount (`inquire-psbl-order`).
Inquiry payload keys are lowercase; every value arrives as a string."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from quartz_cli.config import Account
from quartz_cli.domain.account import Balance, BrokerPosition, Buyable
from quartz_cli.domain.krx import KST
from quartz_cli.domain.orders import OpenOrder, OrderReport, OrderType, Side
from quartz_cli.errors import BrokerError
from quartz_cli.kis import codes
from quartz_cli.kis.client import KisClient

BALANCE = "/uapi/domestic-stock/v1/trading/inquire-balance"
DAILY_CCLD = "/uapi/domestic-stock/v1/trading/inquire-daily-ccld"
PSBL_ORDER = "/uapi/domestic-stock/v1/trading/inquire-psbl-order"

TR_BALANCE = "TTTC8434R"
TR_DAILY_CCLD = "TTTC0081R"      # within 3 months
TR_PSBL_ORDER = "TTTC8908R"


def _int(row: dict[str, Any], key: str) -> int:
    raw = str(row.get(key) or "0").strip()
    try:
        return int(Decimal(raw))
    except InvalidOperation:
        raise BrokerError(f"KIS sent a non-numeric {key}: {raw[:20]!r}") from None


def _dec(row: dict[str, Any], key: str) -> Decimal:
    raw = str(row.get(key) or "0").strip()
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise BrokerError(f"KIS sent a non-numeric {key}: {raw[:20]!r}") from None


async def inquire_balance(kis: KisClient, account: Account) -> Balance:
    """Cash and every holding, following the pages (50 rows real, 20 paper). Rows of
    positions sold out today (`hldg_qty` 0) are left out."""
    pages = await kis.paged_get(BALANCE, TR_BALANCE, {
        "CANO": account.cano, "ACNT_PRDT_CD": account.product, "AFHR_FLPR_YN": "N",
        "OFL_YN": "", "INQR_DVSN": "02", "UNPR_DVSN": "01", "FUND_STTL_ICLD_YN": "N",
        "FNCG_AMT_AUTO_RDPT_YN": "N", "PRCS_DVSN": "00"})
    positions = []
    for page in pages:
        for r in page.output("output1") or []:
            if _int(r, "hldg_qty") <= 0:
                continue
            positions.append(BrokerPosition(
                ticker=str(r["pdno"]), name=str(r.get("prdt_name", "")).strip(),
                qty=_int(r, "hldg_qty"), sellable_qty=_int(r, "ord_psbl_qty"),
                avg_price=_dec(r, "pchs_avg_pric"), purchase_amount=_int(r, "pchs_amt"),
                current_price=_int(r, "prpr"), value=_int(r, "evlu_amt"),
                pnl=_int(r, "evlu_pfls_amt"), pnl_pct=_dec(r, "evlu_pfls_rt")))
    summary_raw = pages[-1].output("output2")
    summary = summary_raw[0] if isinstance(summary_raw, list) and summary_raw else summary_raw
    if not isinstance(summary, dict):
        raise BrokerError("KIS balance answer has no output2 summary")
    return Balance(
        cash_krw=_int(summary, "dnca_tot_amt"), d1_cash_krw=_int(summary, "nxdy_excc_amt"),
        d2_cash_krw=_int(summary, "prvs_rcdl_excc_amt"),
        securities_value=_int(summary, "scts_evlu_amt"),
        total_value=_int(summary, "tot_evlu_amt"),
        purchase_total=_int(summary, "pchs_amt_smtl_amt"),
        pnl_total=_int(summary, "evlu_pfls_smtl_amt"), positions=positions)


async def _daily_order_rows(kis: KisClient, account: Account, start: date, end: date, *,
                            ticker: str, side: Side | None, order_no: str,
                            unfilled_only: bool) -> list[dict[str, Any]]:
    pages = await kis.paged_get(DAILY_CCLD, TR_DAILY_CCLD, {
        "CANO": account.cano, "ACNT_PRDT_CD": account.product,
        "INQR_STRT_DT": start.strftime("%Y%m%d"), "INQR_END_DT": end.strftime("%Y%m%d"),
        "SLL_BUY_DVSN_CD": codes.side_code(side), "PDNO": ticker, "ORD_GNO_BRNO": "",
        "ODNO": order_no,
        "CCLD_DVSN": codes.UNFILLED_ONLY if unfilled_only else codes.ALL_ORDERS,
        "INQR_DVSN": "00", "INQR_DVSN_1": "", "INQR_DVSN_3": "00",
        "EXCG_ID_DVSN_CD": codes.EXCHANGE}, max_pages=200)
    return [r for page in pages for r in page.output("output1") or []]


def _placed_at(row: dict[str, Any]) -> datetime | None:
    """ord_dt + ord_tmd as KST; None when blank or malformed (the time is informative only:
    a bad one must not stop a reconciliation)."""
    day, at = str(row.get("ord_dt") or "").strip(), str(row.get("ord_tmd") or "").strip()
    try:
        return datetime.strptime(day + at, "%Y%m%d%H%M%S").replace(tzinfo=KST)
    except ValueError:
        return None


def _order_report(r: dict[str, Any]) -> OrderReport:
    original = str(r.get("orgn_odno") or "")
    return OrderReport(
        order_no=str(r.get("odno", "")), org_no=str(r.get("ord_gno_brno", "")),
        placed_at=_placed_at(r),
        # A new order's row carries a blank or all-zero original order number.
        original_order_no=original if original.strip("0 ") else None,
        side=codes.side_of(r.get("sll_buy_dvsn_cd", "")),
        order_type=codes.order_type_of(str(r.get("ord_dvsn_cd", ""))),
        ticker=str(r.get("pdno", "")), name=str(r.get("prdt_name", "")).strip(),
        qty=_int(r, "ord_qty"), price=_int(r, "ord_unpr"), filled_qty=_int(r, "tot_ccld_qty"),
        filled_amount=_int(r, "tot_ccld_amt"), avg_fill_price=_int(r, "avg_prvs"),
        remaining_qty=_int(r, "rmn_qty"), rejected_qty=_int(r, "rjct_qty"),
        cancelled=codes.is_yes(r.get("cncl_yn")),
        # The official column map spells it cnc_cfrm_qty, the spec cncl_cfrm_qty.
        cancel_confirmed_qty=_int(r, "cncl_cfrm_qty") or _int(r, "cnc_cfrm_qty"))


async def inquire_daily_orders(kis: KisClient, account: Account, start: date, end: date, *,
                               ticker: str = "", side: Side | None = None, order_no: str = "",
                               unfilled_only: bool = False) -> list[OrderReport]:
    """Orders (and their revise/cancel rows) placed from `start` to `end`, newest first,
    across every page (100 rows real, 15 paper); one side, or both when `side` is None."""
    rows = await _daily_order_rows(kis, account, start, end, ticker=ticker, side=side,
                                   order_no=order_no, unfilled_only=unfilled_only)
    return [_order_report(r) for r in rows]


async def unfilled_orders(kis: KisClient, account: Account, day: date) -> list[OpenOrder]:
    """Orders of `day` with an unfilled remainder, from the daily order inquiry (the paper
    domain has no cancellable-orders inquiry). `order_type` is the broker's division code."""
    rows = await _daily_order_rows(kis, account, day, day, ticker="", side=None, order_no="",
                                   unfilled_only=True)
    out = []
    for r in rows:
        report = _order_report(r)
        if report.remaining_qty > 0 and not report.cancelled:
            out.append(OpenOrder(
                order_no=report.order_no, org_no=report.org_no, ticker=report.ticker,
                name=report.name, side=report.side, order_type=str(r.get("ord_dvsn_cd", "")),
                qty=report.qty, price=report.price, filled_qty=report.filled_qty,
                cancelable_qty=report.remaining_qty, ordered_at=str(r.get("ord_tmd", ""))))
    return out


async def inquire_buyable(kis: KisClient, account: Account, ticker: str, price: int = 0,
                          order_type: OrderType = OrderType.MARKET) -> Buyable:
    """What can be bought with cash only (`nrcvb_*`, no margin). Market (01) by default,
    which makes KIS apply the symbol's margin rate."""
    resp = await kis.get(PSBL_ORDER, TR_PSBL_ORDER, {
        "CANO": account.cano, "ACNT_PRDT_CD": account.product, "PDNO": ticker,
        "ORD_UNPR": str(price if order_type is OrderType.LIMIT else 0),
        "ORD_DVSN": codes.order_type_code(order_type),
        "CMA_EVLU_AMT_ICLD_YN": "N", "OVRS_ICLD_YN": "N"})
    out = resp.output("output")
    if not isinstance(out, dict):
        raise BrokerError("KIS buyable answer has no output")
    return Buyable(ticker=ticker, cash_krw=_int(out, "ord_psbl_cash"),
                   price_used=_int(out, "psbl_qty_calc_unpr"), qty=_int(out, "nrcvb_buy_qty"),
                   amount_krw=_int(out, "nrcvb_buy_amt"))
