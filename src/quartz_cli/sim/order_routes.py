"""`order-cash` (buy/sell) and `order-rvsecncl` (revise/cancel) on the simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quartz_cli.sim import fields
from quartz_cli.sim.exchange import BUY, LIMIT, SELL, Booked, Rejected, exchange_for
from quartz_cli.sim.faults import faults_for
from quartz_cli.sim.order_divisions import (
    BAD_EXCHANGE,
    NOT_ON_PAPER,
    PAPER_EXCHANGES,
    REAL_EXCHANGES,
)
from quartz_cli.sim.protocol import check_gateway, envelope, fail, json_body

if TYPE_CHECKING:
    from quartz_cli.sim.simulator import Simulator

ORDER_CASH = "/uapi/domestic-stock/v1/trading/order-cash"
ORDER_RVSECNCL = "/uapi/domestic-stock/v1/trading/order-rvsecncl"
SELL_TR_IDS = ("TTTC0011U", "TTTC0801U")
BUY_TR_IDS = ("TTTC0012U", "TTTC0802U")
RVSECNCL_TR_IDS = ("TTTC0013U", "TTTC0803U")


def _field(body: dict[str, Any], name: str) -> str:
    """An UPPERCASE body field; KIS rejects lowercase keys on POST bodies."""
    value = body.get(name)
    if value is None:
        raise Rejected("OPSQ2001", f"필수항목 {name} 이(가) 없습니다.")
    return str(value).strip()


def _int(body: dict[str, Any], name: str) -> int:
    raw = _field(body, name)
    if not raw.isdigit():
        raise Rejected("OPSQ2002", f"{name} 값이 숫자가 아닙니다: {raw!r}")
    return int(raw)


def _account(body: dict[str, Any]) -> str:
    cano = _field(body, "CANO")
    if len(cano) != 8 or not cano.isdigit() or _field(body, "ACNT_PRDT_CD") != "01":
        raise Rejected("OPSQ0002", "계좌번호(CANO/ACNT_PRDT_CD)를 확인하세요.")
    return cano


def _exchange_code(sim: Simulator, body: dict[str, Any]) -> None:
    """EXCG_ID_DVSN_CD: KRX, NXT or SOR on the real domain (the simulator routes all to its
    one market), KRX only on paper; blank means KRX."""
    code = str(body.get("EXCG_ID_DVSN_CD") or "").strip().upper()
    if code not in REAL_EXCHANGES:
        raise Rejected(*BAD_EXCHANGE)
    if not sim.config.real_tr_ids and code not in PAPER_EXCHANGES:
        raise Rejected(*NOT_ON_PAPER)


def _ok(sim: Simulator, booked: Booked, msg_cd: str, msg1: str, tr_id: str) -> Response:
    output = dict(zip(fields.ORDER, (booked.orgno, booked.odno, booked.ord_tmd), strict=True))
    if sim.config.order_output_case == "lower":
        output = {k.lower(): v for k, v in output.items()}
    return envelope(msg_cd, msg1, tr_id=tr_id, output=output)


def routes(sim: Simulator) -> list[Route]:
    exchange = exchange_for(sim)
    faults = faults_for(sim)
    real = sim.config.real_tr_ids

    async def order_cash(request: Request) -> Response:
        injected = await faults.before()
        if injected is not None:
            return injected
        gate = check_gateway(sim, request, sim.tr_ids(*SELL_TR_IDS, *BUY_TR_IDS))
        if gate.error:
            return gate.error
        body = await json_body(request)
        if body is None:
            return fail("OPSQ2000", "요청 본문이 JSON이 아닙니다.", tr_id=gate.tr_id)
        side = SELL if gate.tr_id[1:] in {t[1:] for t in SELL_TR_IDS} else BUY
        try:
            cano = _account(body)
            _exchange_code(sim, body)
            booked = exchange.place(cano, side, _field(body, "PDNO"), _field(body, "ORD_DVSN"),
                                    _int(body, "ORD_QTY"), _int(body, "ORD_UNPR"), sim.now())
        except Rejected as rej:
            sim.state.bump("orders_rejected")
            return faults.after(envelope(rej.msg_cd, rej.msg1, rt_cd=rej.rt_cd,
                                         status=rej.status, tr_id=gate.tr_id))
        word = "매수" if side == BUY else "매도"
        if real:
            resp = _ok(sim, booked, "APBK0013", "주문 전송 완료 되었습니다.", gate.tr_id)
        else:
            resp = _ok(sim, booked, "40600000", f"모의투자 {word}주문이 완료 되었습니다.",
                       gate.tr_id)
        return faults.after(resp)

    async def order_rvsecncl(request: Request) -> Response:
        injected = await faults.before()
        if injected is not None:
            return injected
        gate = check_gateway(sim, request, sim.tr_ids(*RVSECNCL_TR_IDS))
        if gate.error:
            return gate.error
        body = await json_body(request)
        if body is None:
            return fail("OPSQ2000", "요청 본문이 JSON이 아닙니다.", tr_id=gate.tr_id)
        try:
            cano = _account(body)
            _exchange_code(sim, body)
            kind = _field(body, "RVSE_CNCL_DVSN_CD")
            if kind not in ("01", "02"):
                raise Rejected("APBK0355", "정정취소구분코드는 01(정정) 또는 02(취소)입니다.")
            booked = exchange.revise_or_cancel(
                cano, _field(body, "ORGN_ODNO"), cancel=kind == "02",
                all_qty=_field(body, "QTY_ALL_ORD_YN") == "Y", qty=_int(body, "ORD_QTY"),
                price=_int(body, "ORD_UNPR"), ord_dvsn=str(body.get("ORD_DVSN") or LIMIT),
                now=sim.now())
        except Rejected as rej:
            return faults.after(envelope(rej.msg_cd, rej.msg1, rt_cd=rej.rt_cd,
                                         status=rej.status, tr_id=gate.tr_id))
        if real:
            resp = _ok(sim, booked, "APBK0013", "주문 전송 완료 되었습니다.", gate.tr_id)
        else:
            resp = _ok(sim, booked, "40670000", "모의투자 정정/취소주문이 완료 되었습니다.",
                       gate.tr_id)
        return faults.after(resp)

    return [
        Route(ORDER_CASH, order_cash, methods=["POST"]),
        Route(ORDER_RVSECNCL, order_rvsecncl, methods=["POST"]),
    ]
