"""Account inquiries on the simulator: `inquire-balance`, `inquire-daily-ccld`,
`inquire-psbl-order` and (real domain only, as at KIS) `inquire-psbl-rvsecncl`.
Paging follows KIS: `tr_cont` M/D in the response header, the offset in `ctx_area_nk100`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quartz_cli.domain.krx import kst_date
from quartz_cli.sim import fields
from quartz_cli.sim.exchange import MARKET, Rejected, exchange_for
from quartz_cli.sim.faults import faults_for
from quartz_cli.sim.order_divisions import (
    BAD_EXCHANGE,
    NOT_ON_PAPER,
    PAPER_EXCHANGES,
    REAL_INQUIRY_EXCHANGES,
)
from quartz_cli.sim.protocol import Gate, check_gateway, envelope, fail, param

if TYPE_CHECKING:
    from quartz_cli.sim.simulator import Simulator

BASE = "/uapi/domestic-stock/v1/trading"
BALANCE_TR_IDS = ("TTTC8434R",)
DAILY_TR_IDS = ("TTTC0081R", "TTTC8001R")
PSBL_ORDER_TR_IDS = ("TTTC8908R",)
PSBL_RVSECNCL_TR_IDS = ("TTTC0084R", "TTTC8036R")


def _page(rows: list[Any], request: Request, size: int) -> tuple[list[Any], str, str, str]:
    """(this page's rows, tr_cont, next FK, next NK). The NK key carries the offset,
    space-padded to 100 characters as KIS's keys are."""
    raw = param(request, "CTX_AREA_NK100").strip()
    start = int(raw) if raw.isdigit() else 0
    chunk = rows[start:start + size]
    more = start + size < len(rows)
    nk = str(start + size).ljust(100) if more else "".ljust(100)
    fk = "quartz-sim".ljust(100)
    return chunk, "M" if more else "D", fk, nk


def _account(request: Request) -> str:
    cano = param(request, "CANO")
    if len(cano) != 8 or not cano.isdigit() or param(request, "ACNT_PRDT_CD") != "01":
        raise Rejected("OPSQ0002", "계좌번호(CANO/ACNT_PRDT_CD)를 확인하세요.")
    return cano


def routes(sim: Simulator) -> list[Route]:
    exchange = exchange_for(sim)
    faults = faults_for(sim)

    async def admit(request: Request, allowed: set[str]) -> tuple[Gate, str] | Response:
        """Injected faults, the gateway, then the account: the checks every inquiry passes."""
        injected = await faults.before()
        if injected is not None:
            return injected
        gate = check_gateway(sim, request, allowed)
        if gate.error:
            return gate.error
        try:
            return gate, _account(request)
        except Rejected as rej:
            return fail(rej.msg_cd, rej.msg1, tr_id=gate.tr_id)

    def page_size(real: int, paper: int) -> int:
        return real if sim.config.real_tr_ids else paper

    async def balance(request: Request) -> Response:
        opened = await admit(request, sim.tr_ids(*BALANCE_TR_IDS))
        if isinstance(opened, Response):
            return opened
        gate, cano = opened
        now = sim.now()
        exchange.match_open(now)
        rows, summary = exchange.holdings(cano, now)
        chunk, cont, fk, nk = _page(rows, request, page_size(50, 20))
        return envelope("KIOK0510", "조회가 완료되었습니다", tr_id=gate.tr_id, tr_cont=cont,
                        ctx_area_fk100=fk, ctx_area_nk100=nk, output1=chunk, output2=[summary])

    async def daily(request: Request) -> Response:
        opened = await admit(request, sim.tr_ids(*DAILY_TR_IDS))
        if isinstance(opened, Response):
            return opened
        gate, cano = opened
        now = sim.now()
        exchange.match_open(now)
        today = kst_date(now).strftime("%Y%m%d")
        start = param(request, "INQR_STRT_DT") or today
        end = param(request, "INQR_END_DT") or today
        if not (start.isdigit() and end.isdigit() and len(start) == len(end) == 8):
            return fail("OPSQ2002", "조회일자는 YYYYMMDD 입니다.", tr_id=gate.tr_id)
        exchange_code = param(request, "EXCG_ID_DVSN_CD").strip().upper()
        if exchange_code not in REAL_INQUIRY_EXCHANGES:
            return fail(*BAD_EXCHANGE, tr_id=gate.tr_id)
        if not sim.config.real_tr_ids and exchange_code not in PAPER_EXCHANGES:
            return fail(*NOT_ON_PAPER, tr_id=gate.tr_id)
        rows = exchange.daily(cano, start, end, pdno=param(request, "PDNO"),
                              side=param(request, "SLL_BUY_DVSN_CD", "00"),
                              ccld=param(request, "CCLD_DVSN", "00"),
                              odno=param(request, "ODNO"),
                              newest_first=param(request, "INQR_DVSN", "00") == "00")
        chunk, cont, fk, nk = _page(rows, request, page_size(100, 15))
        filled = [r for r in rows if r["cncl_yn"] == "N"]
        tot_qty = sum(int(r["ord_qty"]) for r in filled)
        ccld_qty = sum(int(r["tot_ccld_qty"]) for r in filled)
        ccld_amt = sum(int(r["tot_ccld_amt"]) for r in filled)
        summary = {"tot_ord_qty": str(tot_qty), "tot_ccld_qty": str(ccld_qty),
                   "tot_ccld_amt": str(ccld_amt),
                   "prsm_tlex_smtl": str(exchange.costs_between(cano, start, end)),
                   "pchs_avg_pric": f"{ccld_amt / ccld_qty if ccld_qty else 0:.4f}"}
        return envelope("KIOK0510", "조회가 완료되었습니다", tr_id=gate.tr_id, tr_cont=cont,
                        ctx_area_fk100=fk, ctx_area_nk100=nk, output1=chunk, output2=summary)

    async def psbl_order(request: Request) -> Response:
        injected = await faults.before()
        if injected is not None:
            return injected
        gate = check_gateway(sim, request, sim.tr_ids(*PSBL_ORDER_TR_IDS))
        if gate.error:
            return gate.error
        try:
            cano = _account(request)
            price = param(request, "ORD_UNPR", "0") or "0"
            out = exchange.buyable(cano, param(request, "PDNO"),
                                   int(price) if price.isdigit() else 0,
                                   param(request, "ORD_DVSN", MARKET), sim.now())
        except Rejected as rej:
            return fail(rej.msg_cd, rej.msg1, tr_id=gate.tr_id)
        return envelope("KIOK0510", "조회가 완료되었습니다", tr_id=gate.tr_id, output=out)

    async def psbl_rvsecncl(request: Request) -> Response:
        # KIS has no paper version of this inquiry: on the paper domain no TR_ID is valid.
        opened = await admit(request, set(PSBL_RVSECNCL_TR_IDS) if sim.config.real_tr_ids
                             else set())
        if isinstance(opened, Response):
            return opened
        gate, cano = opened
        now = sim.now()
        exchange.match_open(now)
        today = kst_date(now).strftime("%Y%m%d")
        side = {"1": "01", "2": "02"}.get(param(request, "INQR_DVSN_2", "0"), "00")
        rows = []
        for r in exchange.daily(cano, today, today, side=side, ccld="02", newest_first=False):
            rows.append(fields.complete(fields.PSBL_RVSECNCL_ROW, {
                **{k: r[k] for k in fields.PSBL_RVSECNCL_ROW if k in r},
                "psbl_qty": r["rmn_qty"], "excg_id_dvsn_cd": "KRX",
                "excg_id_dvsn_name": "KRX"}))
        chunk, cont, fk, nk = _page(rows, request, 50)
        return envelope("KIOK0510", "조회가 완료되었습니다", tr_id=gate.tr_id, tr_cont=cont,
                        ctx_area_fk100=fk, ctx_area_nk100=nk, output=chunk)

    return [
        Route(f"{BASE}/inquire-balance", balance, methods=["GET"]),
        Route(f"{BASE}/inquire-daily-ccld", daily, methods=["GET"]),
        Route(f"{BASE}/inquire-psbl-order", psbl_order, methods=["GET"]),
        Route(f"{BASE}/inquire-psbl-rvsecncl", psbl_rvsecncl, methods=["GET"]),
    ]
