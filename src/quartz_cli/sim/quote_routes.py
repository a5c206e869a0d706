"""Quotation endpoints served from the sample market (synthetic prices, labelled as such):
`inquire-price` (FHKST01010100) and `inquire-daily-itemchartprice` (FHKST03010100, D/W/M,
at most 100 rows a call, newest first)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from quartz_cli.domain.bars import Bar, Period, resample
from quartz_cli.domain.krx import kst_date, tick_size
from quartz_cli.sim.adjustments import adjusted
from quartz_cli.sim.market import SYNTHETIC_LABEL, MarketEvents, events_from, partial_today
from quartz_cli.sim.protocol import check_gateway, envelope, fail, param

if TYPE_CHECKING:
    from quartz_cli.sim.simulator import Simulator

PRICE_PATH = "/uapi/domestic-stock/v1/quotations/inquire-price"
CHART_PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
PRICE_TR_ID = "FHKST01010100"
CHART_TR_ID = "FHKST03010100"
CHART_ROWS_PER_CALL = 100
# The real broker's code for an unknown symbol is not documented (KIS is reported to answer
# inquire-price with rt_cd 0 and a zero price); the simulator answers with an explicit
# business error under its own code.
UNKNOWN_CODE = "SIMQ0404"


def _sign(change: int, at_upper: bool = False, at_lower: bool = False) -> str:
    """prdy_vrss_sign: 1 limit-up, 2 up, 3 unchanged, 4 limit-down, 5 down."""
    if at_upper:
        return "1"
    if at_lower:
        return "4"
    return "2" if change > 0 else "5" if change < 0 else "3"


def _pct(change: int, base: int) -> str:
    return f"{(change / base * 100) if base else 0.0:.2f}"


def _ymd(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8])) if len(text) == 8 else None
    except ValueError:
        return None


def _bar_row(bar: Bar, prev_close: int | None) -> dict[str, str]:
    change = bar.close - prev_close if prev_close else 0
    return {
        "stck_bsop_date": bar.day.strftime("%Y%m%d"),
        "stck_oprc": str(bar.open), "stck_hgpr": str(bar.high),
        "stck_lwpr": str(bar.low), "stck_clpr": str(bar.close),
        "acml_vol": str(bar.volume), "acml_tr_pbmn": str(bar.value),
        "flng_cls_code": "00", "prtt_rate": "0.00", "mod_yn": "N",
        "prdy_vrss_sign": _sign(change), "prdy_vrss": str(change), "revl_issu_reas": "",
    }


def routes(sim: Simulator) -> list[Route]:
    events_cache: dict[str, MarketEvents] = {}

    def events() -> MarketEvents:
        if "e" not in events_cache:
            events_cache["e"] = events_from(sim.config.halts, sim.config.missing_bars,
                                            sim.market.calendar)
        return events_cache["e"]

    def unknown(code: str, tr_id: str) -> JSONResponse:
        return fail(UNKNOWN_CODE, f"종목코드 {code or '(없음)'} 는 없는 종목입니다 "
                    "(simulator: unknown ticker)", tr_id=tr_id)

    async def inquire_price(request: Request) -> Response:
        gate = check_gateway(sim, request, sim.tr_ids(PRICE_TR_ID))
        if gate.error:
            return gate.error
        code = param(request, "FID_INPUT_ISCD").strip().upper()
        listing = sim.market.listing(code)
        if listing is None:
            return unknown(code, gate.tr_id)
        now = sim.now()
        q = sim.market.quote(code, now)
        halted = events().halted(code, kst_date(now))
        price = q.base if halted else q.price
        change = price - q.base
        output = {
            "stck_shrn_iscd": code, "rprs_mrkt_kor_name": listing.market,
            "bstp_kor_isnm": listing.sector,
            "stck_prpr": str(price), "prdy_vrss": str(change),
            "prdy_vrss_sign": _sign(change, price == q.limits.upper, price == q.limits.lower),
            "prdy_ctrt": _pct(change, q.base),
            "stck_oprc": str(q.base if halted else q.open),
            "stck_hgpr": str(q.base if halted else q.high),
            "stck_lwpr": str(q.base if halted else q.low),
            "stck_sdpr": str(q.base), "stck_mxpr": str(q.limits.upper),
            "stck_llam": str(q.limits.lower), "aspr_unit": str(tick_size(price)),
            "acml_vol": "0" if halted else str(q.volume),
            "acml_tr_pbmn": "0" if halted else str(q.volume * price),
            "temp_stop_yn": "Y" if halted else "N", "iscd_stat_cls_code": "55",
            "mrkt_warn_cls_code": "00", "hts_deal_qty_unit_val": "1",
            "sim_data": SYNTHETIC_LABEL,
        }
        return envelope("MCA00000", "정상처리 되었습니다.", tr_id=gate.tr_id, output=output)

    async def daily_chart(request: Request) -> Response:
        gate = check_gateway(sim, request, sim.tr_ids(CHART_TR_ID))
        if gate.error:
            return gate.error
        code = param(request, "FID_INPUT_ISCD").strip().upper()
        listing = sim.market.listing(code)
        if listing is None:
            return unknown(code, gate.tr_id)
        start = _ymd(param(request, "FID_INPUT_DATE_1"))
        end = _ymd(param(request, "FID_INPUT_DATE_2"))
        try:
            period = Period(param(request, "FID_PERIOD_DIV_CODE", "D").upper())
        except ValueError:
            period = None
        if start is None or end is None or period is None:
            return fail("OPSQ2001", "FID_INPUT_DATE_1/2 (YYYYMMDD) 또는 FID_PERIOD_DIV_CODE "
                        "(D/W/M)가 올바르지 않습니다.", tr_id=gate.tr_id)
        now = sim.now()
        daily = adjusted(sim.market.bars(code, now, events()), code, sim.config.adjustments)
        daily = partial_today(daily, sim.market.quote(code, now))
        # A bar's change is measured against the bar before it, even outside the window.
        in_range = [b for b in daily if start <= b.day <= end]
        before = [b for b in daily if b.day < start]
        bars = resample(in_range, period)
        prev = resample(before, period)[-1].close if before else None
        rows = []
        for bar in bars:
            rows.append(_bar_row(bar, prev))
            prev = bar.close
        rows = rows[::-1][:CHART_ROWS_PER_CALL]
        q = sim.market.quote(code, now)
        output1 = {
            "hts_kor_isnm": listing.name, "stck_shrn_iscd": code, "stck_prpr": str(q.price),
            "prdy_vrss": str(q.price - q.base), "prdy_vrss_sign": _sign(q.price - q.base),
            "prdy_ctrt": _pct(q.price - q.base, q.base), "stck_prdy_clpr": str(q.base),
            "stck_mxpr": str(q.limits.upper), "stck_llam": str(q.limits.lower),
            "sim_data": SYNTHETIC_LABEL,
        }
        return envelope("MCA00000", "정상처리 되었습니다.", tr_id=gate.tr_id, output1=output1,
                        output2=rows)

    return [
        Route(PRICE_PATH, inquire_price, methods=["GET"]),
        Route(CHART_PATH, daily_chart, methods=["GET"]),
    ]
