"""KIS's holiday inquiry `chk-holiday` (CTCA0903R), answered from the simulator's KRX
calendar: `DAYS_PER_CALL` days from `BASS_DT`, one row each. Real protocol only, as KIS
lists it; on the paper protocol the TR_ID is refused like any TR_ID the domain lacks.

The four flags are simplified to one verdict: a KRX session has every flag Y, any other day
every flag N (KIS's `bzdy_yn` and `sttl_day_yn` can differ from `opnd_yn`, e.g. on the
year-end closing day; Quartz reads only `opnd_yn`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quartz_cli.sim.protocol import check_gateway, envelope, fail, param

if TYPE_CHECKING:
    from quartz_cli.sim.simulator import Simulator

HOLIDAY_PATH = "/uapi/domestic-stock/v1/quotations/chk-holiday"
HOLIDAY_TR_ID = "CTCA0903R"
# Third-party logs see about 24 days an answer; the simulator sends that many in one page.
DAYS_PER_CALL = 24


def routes(sim: Simulator) -> list[Route]:
    async def chk_holiday(request: Request) -> Response:
        allowed = {HOLIDAY_TR_ID} if sim.config.real_tr_ids else set()
        gate = check_gateway(sim, request, allowed)
        if gate.error:
            return gate.error
        text = param(request, "BASS_DT")
        try:
            base = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            return fail("OPSQ2001", "BASS_DT (YYYYMMDD)가 올바르지 않습니다.", tr_id=gate.tr_id)
        calendar = sim.market.calendar
        rows = []
        for i in range(DAYS_PER_CALL):
            day = base + timedelta(days=i)
            flag = "Y" if calendar.is_trading_day(day) else "N"
            rows.append({"bass_dt": day.strftime("%Y%m%d"),
                         # 01 Sunday ... 07 Saturday
                         "wday_dvsn_cd": f"{(day.weekday() + 1) % 7 + 1:02d}",
                         "bzdy_yn": flag, "tr_day_yn": flag, "opnd_yn": flag,
                         "sttl_day_yn": flag})
        return envelope("MCA00000", "정상처리 되었습니다.", tr_id=gate.tr_id, tr_cont="D",
                        ctx_area_fk="", ctx_area_nk="", output=rows)

    return [Route(HOLIDAY_PATH, chk_holiday, methods=["GET"])]
