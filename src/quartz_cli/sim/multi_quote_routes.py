"""The multi-ticker quote (`intstock-multprice`, FHKST11300006): up to 30 tickers a call
(`FID_COND_MRKT_DIV_CODE_n` / `FID_INPUT_ISCD_n`, n = 1..30), one `output` row per known
ticker with the fields of KIS's sample. Served on the real-account protocol only, as KIS
serves it; the paper protocol gets a business error. Prices are the sample market's, equal
to what `inquire-price` answers at the same moment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quartz_cli.domain.krx import kst_date
from quartz_cli.sim.market import MarketEvents, events_from
from quartz_cli.sim.protocol import check_gateway, envelope, fail, param

if TYPE_CHECKING:
    from quartz_cli.sim.simulator import Simulator

MULTI_PRICE_PATH = "/uapi/domestic-stock/v1/quotations/intstock-multprice"
MULTI_PRICE_TR_ID = "FHKST11300006"
MULTI_MAX = 30
# The paper domain's answer to this API is not documented (KIS lists it as 모의투자 미지원);
# the simulator answers with a business error under its own code.
PAPER_UNSUPPORTED = "SIMQ0501"


def _sign(change: int, at_upper: bool, at_lower: bool) -> str:
    if at_upper:
        return "1"
    if at_lower:
        return "4"
    return "2" if change > 0 else "5" if change < 0 else "3"


def routes(sim: Simulator) -> list[Route]:
    cache: dict[str, MarketEvents] = {}

    def events() -> MarketEvents:
        if "e" not in cache:
            cache["e"] = events_from(sim.config.halts, sim.config.missing_bars,
                                     sim.market.calendar)
        return cache["e"]

    async def multi_price(request: Request) -> Response:
        gate = check_gateway(sim, request, {MULTI_PRICE_TR_ID})
        if gate.error:
            return gate.error
        if not sim.config.real_tr_ids:
            return fail(PAPER_UNSUPPORTED, "모의투자에서는 해당 업무가 제공되지 않습니다. "
                        "(simulator: intstock-multprice is real-account only)",
                        tr_id=gate.tr_id)
        codes = [param(request, f"FID_INPUT_ISCD_{n}").strip().upper()
                 for n in range(1, MULTI_MAX + 1)]
        codes = [c for c in codes if c]
        if not codes:
            return fail("OPSQ2001", "FID_INPUT_ISCD_1 은 필수입니다.", tr_id=gate.tr_id)
        now = sim.now()
        rows = []
        for code in codes:
            listing = sim.market.listing(code)
            if listing is None:
                continue
            q = sim.market.quote(code, now)
            halted = events().halted(code, kst_date(now))
            price = q.base if halted else q.price
            change = price - q.base
            volume = 0 if halted else q.volume
            rows.append({
                "kospi_kosdaq_cls_name": listing.market,
                "mrkt_trtm_cls_name": "거래정지" if halted else "",
                "hour_cls_code": "0", "inter_shrn_iscd": code, "inter_kor_isnm": listing.name,
                "inter2_prpr": str(price), "inter2_prdy_vrss": str(abs(change)),
                "prdy_vrss_sign": _sign(change, price == q.limits.upper,
                                        price == q.limits.lower),
                "prdy_ctrt": f"{(change / q.base * 100) if q.base else 0.0:.2f}",
                "acml_vol": str(volume),
                "inter2_oprc": str(q.base if halted else q.open),
                "inter2_hgpr": str(q.base if halted else q.high),
                "inter2_lwpr": str(q.base if halted else q.low),
                "inter2_llam": str(q.limits.lower), "inter2_mxpr": str(q.limits.upper),
                "inter2_askp": str(price), "inter2_bidp": str(price),
                "seln_rsqn": "0", "shnu_rsqn": "0", "total_askp_rsqn": "0",
                "total_bidp_rsqn": "0", "acml_tr_pbmn": str(volume * price),
                "inter2_prdy_clpr": str(q.base), "oprc_vrss_hgpr_rate": "0.00",
                "intr_antc_cntg_vrss": "0", "intr_antc_cntg_vrss_sign": "3",
                "intr_antc_cntg_prdy_ctrt": "0.00", "intr_antc_vol": "0",
                "inter2_sdpr": str(q.base),
            })
        return envelope("MCA00000", "정상처리 되었습니다.", tr_id=gate.tr_id, output=rows)

    return [Route(MULTI_PRICE_PATH, multi_price, methods=["GET"])]
