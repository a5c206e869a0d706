"""The domestic index period chart (`inquire-daily-indexchartprice`, FHKUP03500100) served
from the simulator's SYNTHETIC indexes (`sim/index_market.py`): daily bars only, at most
100 rows a call, newest first, with the fields KIS's official sample names (docs/
external-apis.md). An unknown index answers as an unknown stock code does: success with
no name and no rows."""

from __future__ import annotations

from datetime import date, time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quartz_cli.domain.krx import KST
from quartz_cli.sim.market import SYNTHETIC_LABEL
from quartz_cli.sim.protocol import check_gateway, envelope, fail, param

if TYPE_CHECKING:
    from quartz_cli.sim.index_market import SampleIndex
    from quartz_cli.sim.simulator import Simulator

INDEX_CHART_PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-indexchartprice"
INDEX_CHART_TR_ID = "FHKUP03500100"
ROWS_PER_CALL = 100
OK_CODE, OK_TEXT = "MCA00000", "정상처리 되었습니다."


def _ymd(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8])) if len(text) == 8 else None
    except ValueError:
        return None


def routes(sim: Simulator) -> list[Route]:
    built: dict[str, SampleIndex] = {}

    def index() -> SampleIndex:
        if "i" not in built:
            from quartz_cli.sim.index_market import SampleIndex

            built["i"] = SampleIndex(sim.market.calendar, sim.market_seed)
        return built["i"]

    async def daily_index_chart(request: Request) -> Response:
        gate = check_gateway(sim, request, sim.tr_ids(INDEX_CHART_TR_ID))
        if gate.error:
            return gate.error
        start = _ymd(param(request, "FID_INPUT_DATE_1"))
        end = _ymd(param(request, "FID_INPUT_DATE_2"))
        if (param(request, "FID_COND_MRKT_DIV_CODE").upper() != "U" or start is None
                or end is None or param(request, "FID_PERIOD_DIV_CODE", "D").upper() != "D"):
            return fail("OPSQ2001", "FID_COND_MRKT_DIV_CODE(U), FID_INPUT_DATE_1/2 (YYYYMMDD) "
                        "또는 FID_PERIOD_DIV_CODE가 올바르지 않습니다. (the simulator serves "
                        "daily bars only)", tr_id=gate.tr_id)
        code = param(request, "FID_INPUT_ISCD").strip()
        name = index().name(code)
        if name is None:
            return envelope(OK_CODE, OK_TEXT, tr_id=gate.tr_id, output1={}, output2=[])
        now = sim.now().astimezone(KST)
        calendar = sim.market.calendar
        # Completed sessions only: today's bar once the session has closed.
        last = now.date() if (calendar.is_trading_day(now.date())
                              and now.time() >= time(15, 30)) else calendar.previous(now.date())
        bars = index().bars(code, min(end, last)) if last else []
        rows = []
        prev = None
        for b in bars:
            if b.day >= start:
                change = b.close - prev if prev is not None else 0
                rows.append({"stck_bsop_date": b.day.strftime("%Y%m%d"),
                             "bstp_nmix_prpr": str(b.close), "bstp_nmix_oprc": str(b.open),
                             "bstp_nmix_hgpr": str(b.high), "bstp_nmix_lwpr": str(b.low),
                             "acml_vol": str(b.volume), "acml_tr_pbmn": str(b.value),
                             "mod_yn": "N", "bstp_nmix_prdy_vrss": str(change)})
            prev = b.close
        head = bars[-1] if bars else None
        before = bars[-2].close if len(bars) > 1 else None
        output1 = {"hts_kor_isnm": name, "bstp_cls_code": code, "sim_data": SYNTHETIC_LABEL}
        if head is not None:
            output1 |= {"bstp_nmix_prpr": str(head.close), "bstp_nmix_oprc": str(head.open),
                        "bstp_nmix_hgpr": str(head.high), "bstp_nmix_lwpr": str(head.low),
                        "prdy_nmix": str(before or head.open),
                        "acml_vol": str(head.volume), "acml_tr_pbmn": str(head.value)}
        return envelope(OK_CODE, OK_TEXT, tr_id=gate.tr_id, output1=output1,
                        output2=rows[::-1][:ROWS_PER_CALL])

    return [Route(INDEX_CHART_PATH, daily_index_chart, methods=["GET"])]
