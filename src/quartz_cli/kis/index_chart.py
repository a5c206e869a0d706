"""KIS domestic index period chart (`inquire-daily-indexchartprice`, FHKUP03500100,
국내주식업종기간별시세): daily bars of an index such as KOSPI (업종 code `0001`), paged
by date window so that any range is fetched completely.

Fields as KIS's official sample (koreainvestment/open-trading-api,
examples_llm/domestic_stock/inquire_daily_indexchartprice) names them: query
FID_COND_MRKT_DIV_CODE `U`, FID_INPUT_ISCD, FID_INPUT_DATE_1/2, FID_PERIOD_DIV_CODE; output1
the index's state (`hts_kor_isnm`, `bstp_nmix_prpr`…), output2 one row per period
(`stck_bsop_date`, `bstp_nmix_prpr` the close, `bstp_nmix_oprc`/`hgpr`/`lwpr`,
`acml_vol`, `acml_tr_pbmn`). How many rows one call returns is not documented there, so
paging does not rely on it: each call asks for the range before the oldest row received,
until a call brings nothing older."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from quartz_cli.domain.market_index import IndexBar
from quartz_cli.errors import BrokerError
from quartz_cli.kis.client import KisClient

INDEX_CHART_PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-indexchartprice"
INDEX_CHART_TR_ID = "FHKUP03500100"
# A safety stop: 60 calls cover decades at any page size KIS is known to use.
MAX_CALLS = 60


@dataclass(frozen=True)
class IndexChart:
    """An index's daily bars, oldest first, and the broker's name for it."""

    code: str
    name: str
    bars: list[IndexBar]
    calls: int
    data_note: str = ""


def _points(row: dict[str, Any], key: str) -> Decimal:
    raw = str(row.get(key, "") or "0").strip()
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise BrokerError(f"KIS answered a non-numeric {key}: {raw[:20]!r}") from None


def _index_bar(row: dict[str, Any]) -> IndexBar:
    raw = str(row.get("stck_bsop_date", ""))
    try:
        day = date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        raise BrokerError(f"KIS answered an index bar dated {raw[:12]!r}") from None
    return IndexBar(day=day, open=_points(row, "bstp_nmix_oprc"),
                    high=_points(row, "bstp_nmix_hgpr"), low=_points(row, "bstp_nmix_lwpr"),
                    close=_points(row, "bstp_nmix_prpr"),
                    volume=int(_points(row, "acml_vol")),
                    value=int(_points(row, "acml_tr_pbmn")))


async def daily_index_chart(kis: KisClient, code: str, start: date, end: date) -> IndexChart:
    """Every daily bar of index `code` (KIS 업종 code, `0001` KOSPI) from `start` to `end`
    inclusive, oldest first. BrokerError when KIS knows no such index (no name, no bars)."""
    if start > end:
        raise ValueError("start must not be after end")
    by_day: dict[date, IndexBar] = {}
    name = note = ""
    window_end = end
    calls = 0
    while window_end >= start and calls < MAX_CALLS:
        calls += 1
        resp = await kis.get(INDEX_CHART_PATH, INDEX_CHART_TR_ID, {
            "FID_COND_MRKT_DIV_CODE": "U", "FID_INPUT_ISCD": code,
            "FID_INPUT_DATE_1": start.strftime("%Y%m%d"),
            "FID_INPUT_DATE_2": window_end.strftime("%Y%m%d"), "FID_PERIOD_DIV_CODE": "D"})
        head = resp.output("output1")
        if isinstance(head, dict):
            name = name or str(head.get("hts_kor_isnm", "")).strip()
            note = note or str(head.get("sim_data", ""))
        rows = [r for r in (resp.output("output2") or []) if isinstance(r, dict)
                and r.get("stck_bsop_date")]
        page = [b for b in map(_index_bar, rows) if start <= b.day <= end]
        new = [b for b in page if b.day not in by_day]
        for bar in new:
            by_day[bar.day] = bar
        if not new:
            break
        window_end = min(b.day for b in page) - timedelta(days=1)
    if not by_day and not name:
        raise BrokerError(f"KIS returned no bars and no name for index {code}",
                          hint="KOSPI is 0001, KOSDAQ 1001, KOSPI 200 2001")
    return IndexChart(code=code, name=name, bars=[by_day[d] for d in sorted(by_day)],
                      calls=calls, data_note=note)
