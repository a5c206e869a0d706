"""Quotation endpoints served from the sample market (synthetic prices, labelled as such):
`inquire-price` (FHKST01010100) and `inquire-daily-itemchartprice` (FHKST03010100, D/W/M/Y,
at most 100 rows a call, newest first), each with KIS's whole documented field list.

An unknown code is answered as KIS does: `rt_cd` 0 with a zero price (and, on the chart, no
name and no bars). Week, month and year bars are dated by the first session they cover, or
with `SimConfig.bar_dating = "last"` by the last, since KIS's dating is unconfirmed and the
client must page correctly under either."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quartz_cli.domain.bars import Bar, Period, period_key, resample
from quartz_cli.domain.krx import kst_date, tick_size
from quartz_cli.sim import fields
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
OK_CODE, OK_TEXT = "MCA00000", "정상처리 되었습니다."
YEAR = "Y"


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


def _periods(daily: list[Bar], code: str, dating: str) -> list[Bar]:
    """Oldest-first daily bars aggregated into `code` (D/W/M/Y) bars, dated by the first or
    the last session each covers."""
    if code == "D":
        return list(daily)
    if code == YEAR:
        groups: dict[int, list[Bar]] = {}
        for bar in daily:
            groups.setdefault(bar.day.year, []).append(bar)
        out = [_merged(g) for g in groups.values()]
    else:
        out = resample(daily, Period(code))
    if dating != "last":
        return out
    last: dict[tuple[int, int], date] = {}
    for bar in daily:
        key = (bar.day.year, 0) if code == YEAR else period_key(bar.day, Period(code))
        last[key] = bar.day
    return [Bar(day=last[(b.day.year, 0) if code == YEAR else period_key(b.day, Period(code))],
                open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume,
                value=b.value) for b in out]


def _merged(group: list[Bar]) -> Bar:
    return Bar(day=group[0].day, open=group[0].open, high=max(b.high for b in group),
               low=min(b.low for b in group), close=group[-1].close,
               volume=sum(b.volume for b in group), value=sum(b.value for b in group))


def _bar_row(bar: Bar, prev_close: int | None) -> dict[str, str]:
    change = bar.close - prev_close if prev_close else 0
    return fields.complete(fields.CHART_BAR, {
        "stck_bsop_date": bar.day.strftime("%Y%m%d"),
        "stck_oprc": str(bar.open), "stck_hgpr": str(bar.high),
        "stck_lwpr": str(bar.low), "stck_clpr": str(bar.close),
        "acml_vol": str(bar.volume), "acml_tr_pbmn": str(bar.value),
        "flng_cls_code": "00", "prtt_rate": "0.00", "mod_yn": "N",
        "prdy_vrss_sign": _sign(change), "prdy_vrss": str(change), "revl_issu_reas": "",
    })


def routes(sim: Simulator) -> list[Route]:
    events_cache: dict[str, MarketEvents] = {}

    def events() -> MarketEvents:
        if "e" not in events_cache:
            events_cache["e"] = events_from(sim.config.halts, sim.config.missing_bars,
                                            sim.market.calendar)
        return events_cache["e"]


    async def inquire_price(request: Request) -> Response:
        gate = check_gateway(sim, request, sim.tr_ids(PRICE_TR_ID))
        if gate.error:
            return gate.error
        code = param(request, "FID_INPUT_ISCD").strip().upper()
        listing = sim.market.listing(code)
        if listing is None:
            # KIS answers an unknown code with success and a zero price (python-kis relies
            # on it); every field is blank or zero.
            return envelope(OK_CODE, OK_TEXT, tr_id=gate.tr_id,
                            output=fields.complete(fields.INQUIRE_PRICE, {}))
        now = sim.now()
        q = sim.market.quote(code, now)
        halted = events().halted(code, kst_date(now))
        price = q.base if halted else q.price
        change = price - q.base
        output = fields.complete(fields.INQUIRE_PRICE, {
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
            "wghn_avrg_stck_prc": str(price), "stck_fcam": "100", "stck_sspr": str(q.base),
            "rstc_wdth_prc": str(q.limits.upper - q.base), "fcam_cnnm": "원",
            "cpfn_cnnm": "억", "marg_rate": "20.00", "crdt_able_yn": "Y", "ssts_yn": "Y",
            "new_hgpr_lwpr_cls_code": "", "oprc_rang_cont_yn": "N", "clpr_rang_cont_yn": "N",
            "grmn_rate_cls_code": "20", "elw_pblc_yn": "N", "vi_cls_code": "N",
            "ovtm_vi_cls_code": "N", "invt_caful_yn": "N", "short_over_yn": "N",
            "sltr_yn": "N", "mang_issu_cls_code": "N", "stac_month": "12",
            "sim_data": SYNTHETIC_LABEL,
        })
        return envelope(OK_CODE, OK_TEXT, tr_id=gate.tr_id, output=output)

    async def daily_chart(request: Request) -> Response:
        gate = check_gateway(sim, request, sim.tr_ids(CHART_TR_ID))
        if gate.error:
            return gate.error
        code = param(request, "FID_INPUT_ISCD").strip().upper()
        listing = sim.market.listing(code)
        if listing is None:
            return envelope(OK_CODE, OK_TEXT, tr_id=gate.tr_id,
                            output1=fields.complete(fields.CHART_HEAD, {}), output2=[])
        start = _ymd(param(request, "FID_INPUT_DATE_1"))
        end = _ymd(param(request, "FID_INPUT_DATE_2"))
        period = param(request, "FID_PERIOD_DIV_CODE", "D").upper()
        if start is None or end is None or period not in ("D", "W", "M", YEAR):
            return fail("OPSQ2001", "FID_INPUT_DATE_1/2 (YYYYMMDD) 또는 FID_PERIOD_DIV_CODE "
                        "(D/W/M/Y)가 올바르지 않습니다.", tr_id=gate.tr_id)
        now = sim.now()
        daily = adjusted(sim.market.bars(code, now, events()), code, sim.config.adjustments)
        daily = partial_today(daily, sim.market.quote(code, now))
        # A bar's change is measured against the bar before it, even outside the window.
        in_range = [b for b in daily if start <= b.day <= end]
        before = [b for b in daily if b.day < start]
        bars = _periods(in_range, period, sim.config.bar_dating)
        prev = _periods(before, period, "first")[-1].close if before else None
        rows = []
        for bar in bars:
            rows.append(_bar_row(bar, prev))
            prev = bar.close
        rows = rows[::-1][:CHART_ROWS_PER_CALL]
        q = sim.market.quote(code, now)
        output1 = fields.complete(fields.CHART_HEAD, {
            "hts_kor_isnm": listing.name, "stck_shrn_iscd": code, "stck_prpr": str(q.price),
            "prdy_vrss": str(q.price - q.base), "prdy_vrss_sign": _sign(q.price - q.base),
            "prdy_ctrt": _pct(q.price - q.base, q.base), "stck_prdy_clpr": str(q.base),
            "stck_mxpr": str(q.limits.upper), "stck_llam": str(q.limits.lower),
            "stck_oprc": str(q.open), "stck_hgpr": str(q.high), "stck_lwpr": str(q.low),
            "acml_vol": str(q.volume), "acml_tr_pbmn": str(q.volume * q.price),
            "stck_fcam": "100", "sim_data": SYNTHETIC_LABEL,
        })
        return envelope(OK_CODE, OK_TEXT, tr_id=gate.tr_id, output1=output1, output2=rows)

    return [
        Route(PRICE_PATH, inquire_price, methods=["GET"]),
        Route(CHART_PATH, daily_chart, methods=["GET"]),
    ]
