"""KIS quotations: the current price (`inquire-price`, FHKST01010100) and period bars
(`inquire-daily-itemchartprice`, FHKST03010100) with date-window paging so that any range is
fetched completely (the chart answers at most 100 rows a call, newest first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from quartz_cli.domain.bars import Bar, Period, period_key, period_start
from quartz_cli.domain.krx import normalize_ticker
from quartz_cli.errors import BrokerError, UnknownTicker
from quartz_cli.kis import codes
from quartz_cli.kis.client import KisClient

PRICE_PATH = "/uapi/domestic-stock/v1/quotations/inquire-price"
CHART_PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
PRICE_TR_ID = "FHKST01010100"
CHART_TR_ID = "FHKST03010100"
CHART_ROWS_PER_CALL = 100
# A safety stop for a broker that keeps answering full pages: 100 calls = 10,000 bars.
MAX_CHART_CALLS = 100


@dataclass(frozen=True)
class CurrentPrice:
    """`inquire-price` output: prices in won, volume in shares."""

    code: str
    price: int
    change: int
    change_pct: Decimal
    open: int
    high: int
    low: int
    base: int
    upper_limit: int
    lower_limit: int
    tick: int
    volume: int
    traded_value: int
    halted: bool
    market_warning: str
    market: str
    sector: str
    data_note: str = ""


@dataclass(frozen=True)
class Chart:
    """Bars of one ticker, oldest first, and the broker's name for it."""

    code: str
    name: str
    period: Period
    bars: list[Bar]
    calls: int
    data_note: str = ""


def int_field(row: dict[str, Any], key: str) -> int:
    """A whole-number field of a KIS answer row ("" reads as 0); BrokerError if not numeric."""
    raw = str(row.get(key, "") or "0").strip()
    try:
        return int(Decimal(raw))
    except InvalidOperation:
        raise BrokerError(f"KIS answered a non-numeric {key}: {raw[:20]!r}") from None


def _decimal(row: dict[str, Any], key: str) -> Decimal:
    try:
        return Decimal(str(row.get(key, "") or "0").strip())
    except InvalidOperation:
        raise BrokerError(f"KIS answered a non-numeric {key}") from None


def _as_unknown(exc: BrokerError, code: str) -> BrokerError:
    """Keep the broker's own words, but type the error when it is about the code."""
    text = exc.message
    if code in text or "종목" in text:
        return UnknownTicker(text, code=exc.code, status=exc.status,
                             hint=f"{code} is not a listed code on this broker")
    return exc


def _params(code: str) -> dict[str, str]:
    return {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code}


async def inquire_price(kis: KisClient, code: str) -> CurrentPrice:
    """The ticker's current price and day state. Raises UnknownTicker for an unknown code."""
    code = normalize_ticker(code)
    try:
        resp = await kis.get(PRICE_PATH, PRICE_TR_ID, _params(code))
    except BrokerError as exc:
        raise _as_unknown(exc, code) from None
    out = resp.output("output")
    if not isinstance(out, dict):
        raise BrokerError(f"KIS inquire-price for {code} has no output")
    price = int_field(out, "stck_prpr")
    if price == 0:
        # KIS's answer for an unknown code: success with a zero price.
        raise UnknownTicker(f"KIS has no price for {code} (zero price)",
                            hint="the code is unknown or delisted")
    return CurrentPrice(
        code=code, price=price, change=int_field(out, "prdy_vrss"),
        change_pct=_decimal(out, "prdy_ctrt"), open=int_field(out, "stck_oprc"),
        high=int_field(out, "stck_hgpr"), low=int_field(out, "stck_lwpr"),
        base=int_field(out, "stck_sdpr"),
        upper_limit=int_field(out, "stck_mxpr"), lower_limit=int_field(out, "stck_llam"),
        tick=int_field(out, "aspr_unit"), volume=int_field(out, "acml_vol"),
        traded_value=int_field(out, "acml_tr_pbmn"),
        halted=codes.is_yes(out.get("temp_stop_yn")),
        market_warning=str(out.get("mrkt_warn_cls_code", "00")),
        market=str(out.get("rprs_mrkt_kor_name", "")), sector=str(out.get("bstp_kor_isnm", "")),
        data_note=str(out.get("sim_data", "")),
    )


def _bar(row: dict[str, Any]) -> Bar:
    raw = str(row.get("stck_bsop_date", ""))
    try:
        day = date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        raise BrokerError(f"KIS answered a bar with date {raw[:12]!r}") from None
    return Bar(day=day, open=int_field(row, "stck_oprc"), high=int_field(row, "stck_hgpr"),
               low=int_field(row, "stck_lwpr"), close=int_field(row, "stck_clpr"),
               volume=int_field(row, "acml_vol"), value=int_field(row, "acml_tr_pbmn"))


async def daily_chart(kis: KisClient, code: str, start: date, end: date,
                      period: Period = Period.DAY, *, adjusted: bool = True) -> Chart:
    """Every bar of `period` from `start` to `end` (inclusive), oldest first.

    Each call returns at most 100 bars, newest first; the next call asks for the range ending
    the day before the oldest bar received, until a short page or the start is reached.

    Weeks and months page by whole periods: the next range ends the day before the oldest
    bar's week or month begins, and bars are kept one per period (the first received, from
    the newer page). KIS may date such a bar by its first or its last session; paging by
    the bar's date alone would, under last-session dating, ask again for the rest of the
    oldest period and receive it as a second, partial bar."""
    code = normalize_ticker(code)
    if start > end:
        raise ValueError("start must not be after end")
    by_day: dict[tuple[int, int], Bar] = {}
    name = note = ""
    window_end = end
    calls = 0
    while window_end >= start and calls < MAX_CHART_CALLS:
        query = {**_params(code),
                 "FID_INPUT_DATE_1": start.strftime("%Y%m%d"),
                 "FID_INPUT_DATE_2": window_end.strftime("%Y%m%d"),
                 "FID_PERIOD_DIV_CODE": codes.period_code(period),
                 "FID_ORG_ADJ_PRC": "0" if adjusted else "1"}
        calls += 1
        try:
            resp = await kis.get(CHART_PATH, CHART_TR_ID, query)
        except BrokerError as exc:
            raise _as_unknown(exc, code) from None
        head = resp.output("output1")
        if isinstance(head, dict):
            name = name or str(head.get("hts_kor_isnm", "")).strip()
            note = note or str(head.get("sim_data", ""))
        rows = [r for r in (resp.output("output2") or []) if isinstance(r, dict) and r]
        page = [_bar(r) for r in rows if r.get("stck_bsop_date")]
        for bar in page:
            if start <= bar.day <= end:
                by_day.setdefault(period_key(bar.day, period), bar)
        if len(rows) < CHART_ROWS_PER_CALL or not page:
            break
        oldest = period_start(min(b.day for b in page), period)
        if oldest >= window_end + timedelta(days=1):
            break
        window_end = oldest - timedelta(days=1)
    if not by_day and not name:
        raise UnknownTicker(f"KIS returned no bars and no name for {code}",
                            hint="the code is unknown or delisted")
    return Chart(code=code, name=name, period=period,
                 bars=[by_day[k] for k in sorted(by_day)], calls=calls, data_note=note)
