"""`search-info` (CTPF1604R, 상품기본조회): a product's basic record. Real domain only: the
paper host answers its real TR_ID with EGW02006, as KIS's paper host does for the other
C… inquiries without a paper version (docs/external-apis.md). Quartz itself does not call
it; the simulator serves it so clients written against KIS's samples run unmodified."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quartz_cli.sim import fields
from quartz_cli.sim.protocol import check_gateway, envelope, fail, param

if TYPE_CHECKING:
    from quartz_cli.sim.simulator import Simulator

SEARCH_INFO_PATH = "/uapi/domestic-stock/v1/quotations/search-info"
SEARCH_INFO_TR_ID = "CTPF1604R"
# PRDT_TYPE_CD 300: a listed share (the code tables' "주식").
STOCK = "300"


def isin(code: str) -> str:
    """The Korean ISIN of a listed share's short code: KR7 + code + 00 + the check digit."""
    body = f"KR7{code}00"
    digits = "".join(str(int(c, 36)) for c in body)
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n // 10 + n % 10
    return f"{body}{(10 - total % 10) % 10}"


def routes(sim: Simulator) -> list[Route]:
    async def search_info(request: Request) -> Response:
        allowed = {SEARCH_INFO_TR_ID} if sim.config.real_tr_ids else set()
        gate = check_gateway(sim, request, allowed)
        if gate.error:
            return gate.error
        code = param(request, "PDNO").strip().upper()
        kind = param(request, "PRDT_TYPE_CD").strip()
        if not code or not kind:
            return fail("OPSQ2001", "필수항목 PDNO/PRDT_TYPE_CD 이(가) 없습니다.", tr_id=gate.tr_id)
        listing = sim.market.listing(code) if kind == STOCK else None
        if listing is None:
            # Like inquire-price: an unknown product is an empty success, not an error.
            return envelope("KIOK0510", "조회가 완료되었습니다", tr_id=gate.tr_id,
                            output=fields.complete(fields.SEARCH_INFO, {}))
        return envelope("KIOK0510", "조회가 완료되었습니다", tr_id=gate.tr_id,
                        output=fields.complete(fields.SEARCH_INFO, {
                            "pdno": code, "prdt_type_cd": STOCK, "shtn_pdno": code,
                            "std_pdno": isin(code), "prdt_sale_stat_cd": "",
                            "prdt_clsf_cd": "101210", "ivst_prdt_type_cd": "",
                        }))

    return [Route(SEARCH_INFO_PATH, search_info, methods=["GET"])]
