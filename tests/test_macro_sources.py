"""ECOS, FRED and World Bank: parsers against fixtures in each API's documented shape (error
envelopes included), and the collectors over real HTTP against the fakes on loopback."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import date

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fakes.server import LoopbackServer
from quartz_cli.logs import setup_logging
from quartz_cli.redaction import register_secret
from quartz_cli.sources import ecos, fakes, fred, worldbank
from quartz_cli.sources.http import NoData, Retry, SeriesError

FAST = Retry(attempts=3, base_delay_s=0.01)
START, END = date(2019, 1, 1), date(2026, 11, 24)


# --- parsers -----------------------------------------------------------------------------

def test_ecos_parses_rows_and_skips_missing_values() -> None:
    body = {"StatisticSearch": {"list_total_count": 3, "row": [
        {"STAT_CODE": "722Y001", "STAT_NAME": "x", "ITEM_CODE1": "0101000",
         "ITEM_NAME1": "한국은행 기준금리", "ITEM_CODE2": None, "UNIT_NAME": "연%", "WGT": None,
         "TIME": "20240102", "DATA_VALUE": "3.5"},
        {"TIME": "20240103", "DATA_VALUE": "-"},
        {"TIME": "20240104", "DATA_VALUE": ""},
    ]}}
    total, rows = ecos.parse_statistic_search(body, "kr.base_rate", "D")
    assert total == 3 and len(rows) == 1
    assert rows[0].date == date(2024, 1, 2) and rows[0].value == 3.5
    _, monthly = ecos.parse_statistic_search(
        {"StatisticSearch": {"list_total_count": 1, "row": [{"TIME": "202410",
                                                              "DATA_VALUE": "1,234.5"}]}},
        "kr.exports", "M")
    assert monthly[0].date == date(2024, 10, 1) and monthly[0].value == 1234.5


@pytest.mark.parametrize(("code", "kind", "retryable"), [
    ("INFO-200", NoData, False), ("INFO-100", SeriesError, False),
    ("ERROR-500", SeriesError, True), ("ERROR-602", SeriesError, False),
    ("ERROR-101", SeriesError, False),
])
def test_ecos_result_envelope_is_a_typed_error(code: str, kind: type, retryable: bool) -> None:
    body = {"RESULT": {"CODE": code, "MESSAGE": "해당하는 데이터가 없습니다."}}
    with pytest.raises(kind) as info:
        ecos.parse_statistic_search(body, "kr.cpi (901Y009/M/0)", "M")
    err = info.value
    assert err.source == "ecos" and err.code == code and err.retryable is retryable
    assert "kr.cpi" in err.message and err.exit_code == 7


def test_fred_parses_observations_and_drops_dots() -> None:
    body = {"realtime_start": "2026-11-24", "count": 2, "observations": [
        {"realtime_start": "2026-11-24", "realtime_end": "2026-11-24", "date": "2024-01-01",
         "value": "5.33"},
        {"realtime_start": "2026-11-24", "realtime_end": "2026-11-24", "date": "2024-02-01",
         "value": "."}]}
    rows = fred.parse_observations(200, body, "us.fed_funds (FEDFUNDS)")
    assert [(o.date, o.value) for o in rows] == [(date(2024, 1, 1), 5.33)]


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (429, True), (500, True)])
def test_fred_error_body_is_a_typed_error(status: int, retryable: bool) -> None:
    body = {"error_code": status, "error_message": "Bad Request.  The series does not exist."}
    with pytest.raises(SeriesError) as info:
        fred.parse_observations(status, body, "us.cpi (CPIAUCSL)")
    assert info.value.retryable is retryable and info.value.code == str(status)
    assert "CPIAUCSL" in info.value.message and "does not exist" in info.value.message


def test_worldbank_parses_pages_and_skips_nulls() -> None:
    body = [{"page": 1, "pages": 1, "per_page": 50, "total": 3, "sourceid": None},
            [{"indicator": {"id": "NY.GDP.MKTP.KD.ZG", "value": "GDP growth (annual %)"},
              "country": {"id": "KR", "value": "Korea, Rep."}, "countryiso3code": "KOR",
              "date": "2025", "value": None, "unit": "", "obs_status": "", "decimal": 1},
             {"country": {"id": "KR"}, "countryiso3code": "KOR", "date": "2024", "value": 2.0},
             {"country": {"id": "1W"}, "countryiso3code": "WLD", "date": "2024", "value": 2.8}]]
    paging, rows = worldbank.parse_indicator(200, body, "NY.GDP.MKTP.KD.ZG")
    assert paging["pages"] == 1
    assert [(o.date.year, o.value) for o in rows["KOR"]] == [(2024, 2.0)]
    assert rows["WLD"][0].value == 2.8


def test_worldbank_message_envelope_is_a_typed_error() -> None:
    body = [{"message": [{"id": "120", "key": "Invalid value",
                          "value": "The provided parameter value is not valid"}]}]
    with pytest.raises(SeriesError) as info:
        worldbank.parse_indicator(200, body, "FP.CPI.TOTL.ZG")
    assert info.value.code == "120" and not info.value.retryable
    assert "FP.CPI.TOTL.ZG" in info.value.message and "Invalid value" in info.value.message


# --- collectors over loopback HTTP -------------------------------------------------------

def test_collectors_read_the_sample_fakes_over_http_with_paging() -> None:
    with LoopbackServer(fakes.ecos_app()) as e, LoopbackServer(fakes.fred_app()) as f, \
            LoopbackServer(fakes.worldbank_app()) as w:
        async def go():
            async with httpx.AsyncClient(timeout=5) as http:
                got_e = await ecos.EcosCollector(http, "k", base_url=f"{e.url}/api",
                                                 page_rows=500, retry=FAST).collect(START, END)
                got_f = await fred.FredCollector(http, "k", base_url=f"{f.url}/fred",
                                                 retry=FAST).collect(START, END)
                got_w = await worldbank.WorldBankCollector(http, base_url=f"{w.url}/v2",
                                                           retry=FAST).collect(START, END)
                return got_e, got_f, got_w
        got_e, got_f, got_w = asyncio.run(go())
    assert not got_e.errors and not got_f.errors and not got_w.errors
    fx = got_e.series["kr.usdkrw"]          # > 500 daily rows: needed several pages
    assert len(fx) > 1500 and fx[0].date >= START and fx == sorted(fx, key=lambda o: o.date)
    assert len({o.date for o in fx}) == len(fx)
    assert set(got_f.series) == {"us.fed_funds", "us.cpi", "us.core_cpi"}
    kor = got_w.series["kr.gdp_growth"]
    assert kor[0].date.year == 2015 and kor[-1].date.year == 2024  # the sample's non-null years


def test_failing_fakes_give_typed_errors_per_series() -> None:
    with LoopbackServer(fakes.ecos_app(failing=True)) as e, \
            LoopbackServer(fakes.fred_app(failing=True)) as f, \
            LoopbackServer(fakes.worldbank_app(failing=True)) as w:
        async def go():
            async with httpx.AsyncClient(timeout=5) as http:
                return (await ecos.EcosCollector(http, "k", base_url=f"{e.url}/api",
                                                 retry=FAST).collect(START, END),
                        await fred.FredCollector(http, "k", base_url=f"{f.url}/fred",
                                                 retry=FAST).collect(START, END),
                        await worldbank.WorldBankCollector(http, base_url=f"{w.url}/v2",
                                                           retry=FAST).collect(START, END))
        got = asyncio.run(go())
    for result, code in zip(got, ("ERROR-500", "500", "105"), strict=True):
        assert not result.series and result.errors
        assert all(err.code == code for err in result.errors.values())
    assert "FEDFUNDS" in got[1].errors["us.fed_funds"].message


def test_retries_are_bounded_and_recover() -> None:
    calls = {"n": 0}
    good = fakes.fred_app()

    async def flaky(request: Request):
        calls["n"] += 1
        if calls["n"] <= 2:
            return JSONResponse({"error_code": 503, "error_message": "busy"}, status_code=503)
        return await good.router.routes[0].endpoint(request)

    app = Starlette(routes=[Route("/fred/series/observations", flaky)])
    with LoopbackServer(app) as srv:
        async def go(attempts: int):
            async with httpx.AsyncClient(timeout=5) as http:
                c = fred.FredCollector(http, "k", base_url=f"{srv.url}/fred",
                                       retry=Retry(attempts, 0.01))
                return await c.fetch("us.fed_funds", START, END)
        rows = asyncio.run(go(3))
        assert rows and calls["n"] == 3
        calls["n"] = 0
        with pytest.raises(SeriesError) as info:
            asyncio.run(go(2))
        assert calls["n"] == 2 and info.value.code == "503"


def test_unreachable_source_is_retryable_and_names_no_url() -> None:
    async def go():
        async with httpx.AsyncClient(timeout=1) as http:
            return await fred.FredCollector(http, "secret-fred-key-123",
                                            base_url="http://127.0.0.1:9/fred",
                                            retry=FAST).collect(START, END)
    got = asyncio.run(go())
    err = got.errors["us.cpi"]
    assert err.retryable and "unreachable" in err.message and "127.0.0.1" not in err.message


def test_api_keys_never_reach_errors_or_logs(capsys: pytest.CaptureFixture[str]) -> None:
    ecos_key, fred_key = "EcosKey/With+Special", "fredkey0123456789abcdef0123456789"
    register_secret(ecos_key)
    register_secret(fred_key)
    setup_logging(2)  # -vv: httpx logs every request URL
    try:
        with LoopbackServer(fakes.ecos_app(failing=True)) as e, \
                LoopbackServer(fakes.fred_app(failing=True)) as f:
            async def go():
                async with httpx.AsyncClient(timeout=5) as http:
                    return (await ecos.EcosCollector(http, ecos_key, base_url=f"{e.url}/api",
                                                     retry=FAST).collect(START, END),
                            await fred.FredCollector(http, fred_key, base_url=f"{f.url}/fred",
                                                     retry=FAST).collect(START, END))
            got = asyncio.run(go())
    finally:
        setup_logging(0)
    logged = capsys.readouterr().err
    assert "HTTP Request" in logged                    # the URLs were logged ...
    messages = " ".join(str(err) for r in got for err in r.errors.values())
    for key in (ecos_key, fred_key, "EcosKey%2FWith%2BSpecial"):
        assert key not in logged and key not in messages  # ... with the keys masked


def test_logging_redaction_masks_the_path_key() -> None:
    key = "PathKeyABCDEF"
    register_secret(key)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    from quartz_cli.redaction import RedactingFilter

    handler.addFilter(RedactingFilter())
    log = logging.getLogger("test.macro.redaction")
    log.addHandler(handler)
    log.warning("GET %s", f"https://ecos.bok.or.kr/api/StatisticSearch/{key}/json/kr/1/10")
    assert key not in stream.getvalue() and "***" in stream.getvalue()
