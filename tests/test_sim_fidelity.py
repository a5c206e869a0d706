"""The simulator answers as KIS does where a real account differs (issue 14): header casing,
the unknown-ticker answer, T+2 settlement with commission and tax, KIS's whole field lists,
period Y, every order division and exchange code per domain, wrong-domain TR_IDs and
out-of-hours answers; and the client stays right under either reading of what KIS leaves
unconfirmed (bar dating, order-answer key case, how a cancel shows in the inquiry)."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from fakes.server import LoopbackServer
from kis_harness import make_client
from quartz_cli.config import LOCAL_APP_KEY, LOCAL_APP_SECRET, Account, Env
from quartz_cli.domain import costs
from quartz_cli.domain.bars import Bar, Period, period_key, resample
from quartz_cli.domain.krx import KST
from quartz_cli.domain.orders import OrderRequest, OrderState, OrderType, Side
from quartz_cli.kis.account import inquire_balance, inquire_buyable, inquire_daily_orders
from quartz_cli.kis.client import KisClient
from quartz_cli.kis.endpoints import LOCAL_SIM_URL, KisEndpoint
from quartz_cli.kis.market import KisAccount
from quartz_cli.kis.orders import place_cash_order, revise_or_cancel
from quartz_cli.kis.quotations import daily_chart
from quartz_cli.sim import SimConfig, SimState, Simulator, fields
from trading_support import local

TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=KST)
ACCOUNT = Account("12345678", "01")
PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"
CHART = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
TRADING = "/uapi/domestic-stock/v1/trading"
S = OrderState


class Clock:
    """A settable simulator clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()


def simulator(cache: Path, at: datetime = TUESDAY, **config: Any) -> Simulator:
    base: dict[str, Any] = {"rate_limit_per_s": 0, "token_issue_interval_s": 0.0,
                            "starting_cash": 10_000_000, **config}
    return Simulator(SimState(), SimConfig(**base), clock=Clock(at), cache_dir=cache)


class Raw:
    """Plain HTTP calls to an in-process simulator, with KIS's request headers."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.http = TestClient(sim.app)
        body = {"grant_type": "client_credentials", "appkey": LOCAL_APP_KEY,
                "appsecret": LOCAL_APP_SECRET}
        self.token = self.http.post("/oauth2/tokenP", json=body).json()["access_token"]

    def headers(self, tr_id: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}", "appkey": LOCAL_APP_KEY,
                "appsecret": LOCAL_APP_SECRET, "tr_id": tr_id, "custtype": "P"}

    def get(self, path: str, tr_id: str, **params: str) -> httpx.Response:
        return self.http.get(path, params=params, headers=self.headers(tr_id))

    def order(self, tr_id: str, **body: str) -> httpx.Response:
        payload = {"CANO": ACCOUNT.cano, "ACNT_PRDT_CD": "01", "PDNO": "005930",
                   "ORD_QTY": "1", "ORD_UNPR": "0", "EXCG_ID_DVSN_CD": "KRX", **body}
        return self.http.post(f"{TRADING}/order-cash", json=payload, headers=self.headers(tr_id))


@pytest.fixture
def cache(calendar_cache: Path) -> Path:
    return calendar_cache


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- wire ------------------------------------------------------------------------------------

def test_response_headers_travel_in_kis_casing(cache):
    sim = simulator(cache)
    token = Raw(sim).token
    with LoopbackServer(sim.app, server_header=False, date_header=False) as srv, \
            httpx.Client(base_url=srv.url) as http:
        sent = {"authorization": f"Bearer {token}", "appkey": LOCAL_APP_KEY,
                "appsecret": LOCAL_APP_SECRET, "custtype": "P"}
        ok = http.get(PRICE, params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"},
                      headers={**sent, "tr_id": "FHKST01010100"})
        refused = http.get(f"{TRADING}/inquire-balance", headers={**sent, "tr_id": "TTTC8434R"})
    for resp in (ok, refused):
        names = [name.decode() for name, _ in resp.headers.raw]
        expected = {"Content-Type", "Content-Length", "Date", "tr_id", "tr_cont", "gt_uid"}
        assert expected <= set(names)
        assert not {"content-type", "content-length", "date", "server"} & set(names)
        # KIS's sample client keeps the lower-case names as namedtuple fields.
        namedtuple("header", [n for n in names if n.islower()])
    assert ok.status_code == 200 and refused.status_code == 500
    assert len(ok.headers["gt_uid"]) == 32 and ok.headers["tr_id"] == "FHKST01010100"


# --- unknown ticker --------------------------------------------------------------------------

def test_unknown_ticker_is_answered_with_success_and_a_zero_price(cache):
    raw = Raw(simulator(cache))
    price = raw.get(PRICE, "FHKST01010100", FID_COND_MRKT_DIV_CODE="J",
                    FID_INPUT_ISCD="999999").json()
    assert price["rt_cd"] == "0" and price["output"]["stck_prpr"] == "0"
    assert list(price["output"]) == fields.INQUIRE_PRICE
    chart = raw.get(CHART, "FHKST03010100", FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD="999999",
                    FID_INPUT_DATE_1="20260101", FID_INPUT_DATE_2="20261120",
                    FID_PERIOD_DIV_CODE="D").json()
    assert chart["rt_cd"] == "0" and chart["output2"] == []
    assert chart["output1"]["hts_kor_isnm"] == ""


def test_a_manual_order_for_an_unknown_ticker_is_refused_by_the_broker(in_session):
    env = local(in_session)

    async def go():
        async with env.rt:
            return await env.agent.submit(OrderRequest(
                request_id="ghost-1", action="buy", ticker="999999", qty=1,
                order_type="market", price=0, timestamp=datetime.now(KST)))

    out = run(go())
    assert out.state is S.REJECTED and out.code == "APBK0656"
    assert env.booked() == []


# --- schemas ---------------------------------------------------------------------------------

def _strings(row: dict[str, Any], names: list[str]) -> None:
    assert set(names) <= set(row), sorted(set(names) - set(row))
    assert all(isinstance(v, str) for v in row.values())


def test_every_answer_carries_kis_documented_fields_as_strings(cache):
    paper, real = Raw(simulator(cache)), Raw(simulator(cache, real_tr_ids=True))
    account = {"CANO": ACCOUNT.cano, "ACNT_PRDT_CD": "01"}
    price = paper.get(PRICE, "FHKST01010100", FID_COND_MRKT_DIV_CODE="J",
                      FID_INPUT_ISCD="005930").json()
    _strings(price["output"], fields.INQUIRE_PRICE)
    chart = paper.get(CHART, "FHKST03010100", FID_COND_MRKT_DIV_CODE="J",
                      FID_INPUT_ISCD="005930", FID_INPUT_DATE_1="20261101",
                      FID_INPUT_DATE_2="20261120", FID_PERIOD_DIV_CODE="D").json()
    _strings(chart["output1"], fields.CHART_HEAD)
    for row in chart["output2"]:
        _strings(row, fields.CHART_BAR)
    for raw, prefix in ((paper, "V"), (real, "T")):
        q = raw.sim.market.quote("005930", TUESDAY)
        low = str(q.limits.lower)
        assert raw.order(f"{prefix}TTC0012U", ORD_DVSN="01").json()["rt_cd"] == "0"
        assert raw.order(f"{prefix}TTC0012U", ORD_DVSN="00", ORD_UNPR=low).json()["rt_cd"] == "0"
        balance = raw.get(f"{TRADING}/inquire-balance", f"{prefix}TTC8434R", **account).json()
        for row in balance["output1"]:
            _strings(row, fields.BALANCE_ROW)
        _strings(balance["output2"][0], fields.BALANCE_SUMMARY)
        buyable = raw.get(f"{TRADING}/inquire-psbl-order", f"{prefix}TTC8908R", **account,
                          PDNO="005930", ORD_UNPR="0", ORD_DVSN="01").json()
        _strings(buyable["output"], fields.PSBL_ORDER)
        daily = raw.get(f"{TRADING}/inquire-daily-ccld", f"{prefix}TTC0081R", **account,
                        INQR_STRT_DT="20261124", INQR_END_DT="20261124").json()
        assert len(daily["output1"]) == 2
        for row in daily["output1"]:
            _strings(row, fields.DAILY_CCLD_ROW)
        _strings(daily["output2"], fields.DAILY_CCLD_SUMMARY)
    rvsecncl = real.get(f"{TRADING}/inquire-psbl-rvsecncl", "TTTC0084R", **account).json()
    assert len(rvsecncl["output"]) == 1
    _strings(rvsecncl["output"][0], fields.PSBL_RVSECNCL_ROW)


def test_period_y_serves_one_bar_a_year(cache):
    sim = simulator(cache)
    raw = Raw(sim)
    answer = raw.get(CHART, "FHKST03010100", FID_COND_MRKT_DIV_CODE="J",
                     FID_INPUT_ISCD="005930", FID_INPUT_DATE_1="20230101",
                     FID_INPUT_DATE_2="20251231", FID_PERIOD_DIV_CODE="Y").json()
    rows = answer["output2"]
    assert [r["stck_bsop_date"][:4] for r in rows] == ["2025", "2024", "2023"]
    daily = [b for b in sim.market.bars("005930", TUESDAY)
             if date(2024, 1, 1) <= b.day <= date(2024, 12, 31)]
    year = rows[1]
    assert int(year["stck_hgpr"]) == max(b.high for b in daily)
    assert int(year["stck_lwpr"]) == min(b.low for b in daily)
    assert (int(year["stck_oprc"]), int(year["stck_clpr"])) == (daily[0].open, daily[-1].close)
    assert int(year["acml_vol"]) == sum(b.volume for b in daily)


# --- settlement, commission and tax ----------------------------------------------------------

def test_sell_tax_follows_the_settlement_date():
    assert costs.sell_tax_rate(date(2023, 6, 1)) == costs.sell_tax_rate(date(2026, 1, 1))
    assert costs.sell_tax_rate(date(2024, 12, 31)) == Decimal("0.0018")
    assert costs.sell_tax_rate(date(2025, 1, 1)) == Decimal("0.0015")
    assert costs.sell_tax_rate(date(2025, 12, 31)) == Decimal("0.0015")
    assert costs.sell_tax(1_000_000, date(2026, 1, 2)) == 2_000
    assert costs.commission(1_000_000) == 150 and costs.commission(6_666) == 0


def test_a_buy_sell_round_trip_settles_t_plus_2_with_commission_and_tax(cache, tmp_path):
    clock = Clock(TUESDAY)
    sim = Simulator(SimState(), SimConfig(rate_limit_per_s=0, token_issue_interval_s=0.0,
                                          starting_cash=10_000_000),
                    clock=clock, cache_dir=cache)
    kis = make_client(sim, tmp_path)
    cash = 10_000_000

    async def day(at: datetime, side: Side | None = None) -> tuple[Any, Any, int, list[Any]]:
        clock.at = at
        if side is not None:
            await place_cash_order(kis, ACCOUNT, side, "005930", 10, OrderType.MARKET)
        balance = await inquire_balance(kis, ACCOUNT)
        buyable = await inquire_buyable(kis, ACCOUNT, "", 0, OrderType.LIMIT)
        orderable = await KisAccount(kis, ACCOUNT).orderable_cash()
        rows = await inquire_daily_orders(kis, ACCOUNT, at.date(), at.date())
        return balance, buyable, orderable, rows

    async def go() -> list[Any]:
        async with kis:
            return [await day(TUESDAY, Side.BUY),
                    await day(TUESDAY + timedelta(days=1), Side.SELL),
                    await day(TUESDAY + timedelta(days=2)),
                    await day(TUESDAY + timedelta(days=3))]

    tue, wed, thu, fri = run(go())
    bought = tue[3][0].filled_amount
    sold = wed[3][0].filled_amount
    assert bought == 10 * sim.market.quote("005930", TUESDAY).price
    assert sold == 10 * sim.market.quote("005930", TUESDAY + timedelta(days=1)).price
    buy_fee = bought * 15 // 100_000
    sell_fee, tax = sold * 15 // 100_000, sold * 20 // 10_000   # settles Fri 2026-11-27
    after_buy = cash - bought - buy_fee
    final = after_buy + sold - sell_fee - tax

    # Tuesday: bought; the deposit waits for Thursday's settlement, the D+2 figure does not.
    balance, buyable, orderable, _ = tue
    assert (balance.cash_krw, balance.d1_cash_krw, balance.d2_cash_krw) == \
        (cash, cash, after_buy)
    assert buyable.cash_krw == orderable == after_buy
    assert balance.position("005930").qty == 10
    # Wednesday: sold; the proceeds settle Friday, net of commission and tax.
    balance, buyable, orderable, _ = wed
    assert (balance.cash_krw, balance.d1_cash_krw, balance.d2_cash_krw) == \
        (cash, after_buy, final)
    # Orderable cash leaves the unsettled proceeds out: the deposit and ord_psbl_cash
    # diverge, and Quartz takes the smaller.
    assert buyable.cash_krw == orderable == after_buy
    assert balance.position("005930") is None
    # Thursday: the buy settled. Friday: the sale settled.
    balance, buyable, orderable, _ = thu
    assert (balance.cash_krw, balance.d1_cash_krw, balance.d2_cash_krw) == \
        (after_buy, final, final)
    assert orderable == after_buy
    balance, buyable, orderable, _ = fri
    assert (balance.cash_krw, balance.d1_cash_krw, balance.d2_cash_krw) == (final, final, final)
    assert orderable == final


def test_balance_reports_the_days_trades_and_costs(cache):
    raw = Raw(simulator(cache))
    account = {"CANO": ACCOUNT.cano, "ACNT_PRDT_CD": "01"}
    assert raw.order("VTTC0012U", ORD_DVSN="01", ORD_QTY="4").json()["rt_cd"] == "0"
    assert raw.order("VTTC0011U", ORD_DVSN="01", ORD_QTY="3", SLL_TYPE="01").json()["rt_cd"] == "0"
    answer = raw.get(f"{TRADING}/inquire-balance", "VTTC8434R", **account).json()
    summary, [row] = answer["output2"][0], answer["output1"]
    price = raw.sim.market.quote("005930", TUESDAY).price
    costs_due = (4 * price) * 15 // 100_000 + (3 * price) * 15 // 100_000 \
        + (3 * price) * 20 // 10_000
    assert (summary["thdt_buy_amt"], summary["thdt_sll_amt"]) == (str(4 * price), str(3 * price))
    assert summary["thdt_tlex_amt"] == str(costs_due)
    assert (row["thdt_buyqty"], row["thdt_sll_qty"], row["hldg_qty"]) == ("4", "3", "1")
    daily = raw.get(f"{TRADING}/inquire-daily-ccld", "VTTC0081R", **account,
                    INQR_STRT_DT="20261124", INQR_END_DT="20261124").json()
    assert daily["output2"]["prsm_tlex_smtl"] == str(costs_due)


# --- order divisions, exchanges, TR_IDs, hours ----------------------------------------------

@pytest.mark.parametrize("real,division,price,code", [
    (False, "00", "limit", "0"), (False, "02", "limit", "0"), (False, "03", "0", "0"),
    (False, "04", "0", "0"), (False, "05", "0", "90000000"), (False, "11", "limit", "90000000"),
    (False, "13", "0", "90000000"), (False, "08", "0", "IGW00019"), (False, "99", "0", "IGW00019"),
    (True, "05", "0", "APBK0918"), (True, "07", "limit", "APBK0918"), (True, "11", "limit", "0"),
    (True, "12", "limit", "0"), (True, "13", "0", "0"), (True, "16", "0", "0"),
    (True, "21", "0", "0"), (True, "22", "limit", "0"), (True, "03", "limit", "APBK0508"),
])
def test_each_order_division_is_taken_or_refused_per_domain(cache, real, division, price, code):
    raw = Raw(simulator(cache, real_tr_ids=real))
    limit = str(raw.sim.market.quote("005930", TUESDAY).limits.lower)
    answer = raw.order("TTTC0012U" if real else "VTTC0012U", ORD_DVSN=division,
                       ORD_UNPR=limit if price == "limit" else price)
    body = answer.json()
    assert body["rt_cd" if code == "0" else "msg_cd"] == code, body
    assert answer.status_code == (500 if code == "IGW00019" else 200)


def test_ioc_and_fok_that_cannot_execute_are_cancelled_at_once(cache):
    raw = Raw(simulator(cache, real_tr_ids=True))
    limit = str(raw.sim.market.quote("005930", TUESDAY).limits.lower)
    for division in ("11", "12"):
        assert raw.order("TTTC0012U", ORD_DVSN=division, ORD_UNPR=limit).json()["rt_cd"] == "0"
    rows = raw.get(f"{TRADING}/inquire-daily-ccld", "TTTC0081R", CANO=ACCOUNT.cano,
                   ACNT_PRDT_CD="01", INQR_STRT_DT="20261124", INQR_END_DT="20261124").json()
    got = [(r["ord_dvsn_name"], r["rmn_qty"], r["cncl_cfrm_qty"], r["tot_ccld_qty"])
           for r in rows["output1"]]
    assert got == [("FOK지정가", "0", "1", "0"), ("IOC지정가", "0", "1", "0")]


@pytest.mark.parametrize("real,exchange,code", [
    (False, "KRX", "0"), (False, "", "0"), (False, "SOR", "90000000"), (False, "NXT", "90000000"),
    (False, "XYZ", "OPSQ2002"), (True, "SOR", "0"), (True, "NXT", "0"), (True, "XYZ", "OPSQ2002"),
])
def test_exchange_codes_are_checked_per_domain(cache, real, exchange, code):
    raw = Raw(simulator(cache, real_tr_ids=real))
    body = raw.order("TTTC0012U" if real else "VTTC0012U", ORD_DVSN="01",
                     EXCG_ID_DVSN_CD=exchange).json()
    assert body["rt_cd" if code == "0" else "msg_cd"] == code, body


@pytest.mark.parametrize("real,exchange,code", [
    (False, "KRX", "0"), (False, "ALL", "90000000"), (True, "ALL", "0"), (True, "XYZ", "OPSQ2002"),
])
def test_the_daily_orders_inquiry_checks_its_exchange_code(cache, real, exchange, code):
    raw = Raw(simulator(cache, real_tr_ids=real))
    body = raw.get(f"{TRADING}/inquire-daily-ccld", "TTTC0081R" if real else "VTTC0081R",
                   CANO=ACCOUNT.cano, ACNT_PRDT_CD="01", INQR_STRT_DT="20261124",
                   INQR_END_DT="20261124", EXCG_ID_DVSN_CD=exchange).json()
    assert body["rt_cd" if code == "0" else "msg_cd"] == code, body


@pytest.mark.parametrize("real,tr_id,code", [
    (False, "TTTC8434R", "EGW02006"), (True, "VTTC8434R", "EGW02005"),
    (False, "FHKST01010100", "EGW00203"),
])
def test_a_tr_id_of_the_wrong_domain_is_answered_as_kis_does(cache, real, tr_id, code):
    raw = Raw(simulator(cache, real_tr_ids=real))
    answer = raw.get(f"{TRADING}/inquire-balance", tr_id, CANO=ACCOUNT.cano, ACNT_PRDT_CD="01")
    assert answer.status_code == 500 and answer.json()["msg_cd"] == code


@pytest.mark.parametrize("real,at,code", [
    (False, datetime(2026, 11, 24, 8, 0, tzinfo=KST), "40570000"),
    (False, datetime(2026, 11, 24, 16, 0, tzinfo=KST), "40580000"),
    (False, datetime(2026, 11, 28, 10, 0, tzinfo=KST), "40100000"),
    (True, datetime(2026, 11, 24, 16, 0, tzinfo=KST), "APBK0918"),
])
def test_out_of_hours_orders_get_each_domains_answer(cache, real, at, code):
    raw = Raw(simulator(cache, at, real_tr_ids=real))
    body = raw.order("TTTC0012U" if real else "VTTC0012U", ORD_DVSN="01").json()
    assert body["rt_cd"] == "1" and body["msg_cd"] == code


# --- the client under either reading of what KIS leaves unconfirmed --------------------------

def _chart(sim: Simulator, cache: Path, period: Period) -> list[Bar]:
    async def go() -> list[Bar]:
        async with make_client(sim, cache) as kis:
            chart = await daily_chart(kis, "035420", date(2022, 3, 16), date(2026, 11, 18),
                                      period)
            assert period is not Period.WEEK or chart.calls >= 3     # paged
            return chart.bars
    return run(go())


@pytest.mark.parametrize("period", [Period.WEEK, Period.MONTH])
def test_weekly_and_monthly_paging_gives_the_same_bars_under_either_dating(cache, tmp_path,
                                                                          period):
    first = _chart(simulator(cache, bar_dating="first"), tmp_path / "a", period)
    last = _chart(simulator(cache, bar_dating="last"), tmp_path / "b", period)

    def shape(bars: list[Bar]) -> list[tuple[Any, ...]]:
        return [(period_key(b.day, period), b.open, b.high, b.low, b.close, b.volume)
                for b in bars]

    assert shape(first) == shape(last)
    assert len({period_key(b.day, period) for b in last}) == len(last)   # no period twice
    daily = [b for b in simulator(cache).market.bars("035420", TUESDAY)
             if date(2022, 3, 16) <= b.day <= date(2026, 11, 18)]
    assert shape(first) == shape(resample(daily, period))
    assert [b.day for b in first] != [b.day for b in last]     # the datings did differ


def _order(rid: str, **kw: Any) -> OrderRequest:
    base = {"request_id": rid, "action": "buy", "ticker": "005930", "qty": 2,
            "order_type": "limit", "price": 0, "timestamp": datetime.now(KST)}
    return OrderRequest(**(base | kw))


def test_a_lower_case_cancel_answer_is_recorded_as_cancelled(in_session):
    env = local(in_session, order_output_case="lower")

    async def go():
        async with env.rt:
            q = env.sim.market.quote("005930", env.config.market_now())
            placed = await env.agent.submit(_order("lc-1", price=q.limits.lower))
            cancel = await env.agent.submit(_order("lc-2", action="cancel", ticker="", qty=0,
                                                   order_no=placed.order_no))
            return placed, cancel, await env.agent.outcome("lc-1")

    placed, cancel, original = run(go())
    assert placed.state is S.ACCEPTED and placed.order_no
    assert cancel.state is S.CANCELLED and cancel.order_no not in ("", placed.order_no)
    assert original.state is S.CANCELLED


@pytest.mark.parametrize("report", ["both", "cancel_row"])
def test_a_cancel_made_elsewhere_is_reconciled_from_either_reading(in_session, report):
    env = local(in_session, cancel_report=report)

    async def go():
        async with env.rt:
            q = env.sim.market.quote("005930", env.config.market_now())
            placed = await env.agent.submit(_order("el-1", price=q.limits.lower))
            # Cancelled outside this agent (another client, the broker's app).
            await revise_or_cancel(env.rt.kis, env.config.account(), placed.org_no or "",
                                   placed.order_no or "", cancel=True)
            await env.agent.refresh()
            rows = await inquire_daily_orders(env.rt.kis, env.config.account(),
                                              env.config.market_now().date(),
                                              env.config.market_now().date())
            return placed, await env.agent.outcome("el-1"), rows

    placed, outcome, rows = run(go())
    original = next(r for r in rows if r.order_no == placed.order_no)
    assert original.remaining_qty == (0 if report == "both" else 2)
    assert outcome.state is S.CANCELLED


def _real_client(sim: Simulator, cache: Path) -> KisClient:
    client = make_client(sim, cache)
    client.endpoint = KisEndpoint(Env.LOCAL, LOCAL_SIM_URL, "", True, 100.0, in_process=True)
    return client


def test_the_client_works_against_the_real_domain_simulator(cache, tmp_path):
    sim = simulator(cache, real_tr_ids=True)

    async def go() -> Any:
        async with _real_client(sim, tmp_path) as kis:
            ticket = await place_cash_order(kis, ACCOUNT, Side.BUY, "005930", 1,
                                            OrderType.MARKET)
            return ticket, await inquire_balance(kis, ACCOUNT)

    ticket, balance = run(go())
    assert ticket.code == "APBK0013" and balance.position("005930").qty == 1


def test_search_info_on_the_real_domain_only(cache):
    info = "/uapi/domestic-stock/v1/quotations/search-info"
    real = Raw(simulator(cache, real_tr_ids=True))
    found = real.get(info, "CTPF1604R", PDNO="005930", PRDT_TYPE_CD="300").json()
    _strings(found["output"], fields.SEARCH_INFO)
    assert found["output"]["std_pdno"] == "KR7005930003"
    unknown = real.get(info, "CTPF1604R", PDNO="999999", PRDT_TYPE_CD="300").json()
    assert unknown["rt_cd"] == "0" and unknown["output"]["pdno"] == ""
    paper = Raw(simulator(cache)).get(info, "CTPF1604R", PDNO="005930", PRDT_TYPE_CD="300")
    assert paper.status_code == 500 and paper.json()["msg_cd"] == "EGW02006"


def test_the_unconfirmed_behaviours_are_switches_of_the_environment():
    from quartz_cli.errors import ConfigError

    cfg = SimConfig.from_env({"QUARTZ_SIM_BAR_DATING": "last",
                              "QUARTZ_SIM_ORDER_OUTPUT_CASE": "lower",
                              "QUARTZ_SIM_CANCEL_REPORT": "cancel_row"})
    assert (cfg.bar_dating, cfg.order_output_case, cfg.cancel_report) == \
        ("last", "lower", "cancel_row")
    with pytest.raises(ConfigError, match="QUARTZ_SIM_BAR_DATING"):
        SimConfig.from_env({"QUARTZ_SIM_BAR_DATING": "middle"})


@pytest.mark.parametrize("real,rt_cd,code", [(False, "1", "40250000"), (True, "7", "APBK0952")])
def test_a_buy_beyond_the_cash_is_refused_in_each_domains_words(cache, real, rt_cd, code):
    raw = Raw(simulator(cache, real_tr_ids=real, starting_cash=10_000))
    body = raw.order("TTTC0012U" if real else "VTTC0012U", ORD_DVSN="01").json()
    assert (body["rt_cd"], body["msg_cd"]) == (rt_cd, code)
