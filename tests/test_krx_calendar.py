"""The KRX calendar never runs out and knows KRX's special days: the table's horizon and its
rebuild, the packaged table, dates in 2027 and 2028, the project's special days (closures,
the exam day's hours, the late open of the year's first session) and the order window on
them; KIS's holiday inquiry (chk-holiday) as the authority in paper and prod; a market clock
before the synthetic market's start."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.routing import Route

from cli import quartz
from fakes.server import LoopbackServer
from kis_harness import make_client, make_sim
from quartz_cli.calendars import (
    BUILD_AHEAD,
    FIRST_SESSION,
    SessionTable,
    krx_calendar,
    library_version,
    packaged_table,
    session_table,
)
from quartz_cli.domain.calendar import KrxCalendar, last_booking_moment
from quartz_cli.domain.krx import KST, REGULAR_HOURS, Phase
from quartz_cli.domain.krx_special_days import CLOSURES, CSAT_DAYS, CSAT_HOURS, LATE_OPEN_HOURS
from quartz_cli.domain.order_window import WindowRefusal, check_order_window
from quartz_cli.kis.holidays import HOLIDAY_PATH, HolidayCache, chk_holiday, market_day
from quartz_cli.sim.protocol import check_gateway, envelope

LIB = library_version()
# A day whose table must reach past the packaged one: the load for it builds.
LATE_DAY = date(2027, 12, 1)


def kst(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), KST)


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SessionTable]:
    """A cache holding a table built long ago (horizon 2026-01-01), loaded on LATE_DAY:
    the module's one real build from exchange-calendars."""
    cache = tmp_path_factory.mktemp("xkrx")
    old = SessionTable(LIB, date(2024, 1, 2), FIRST_SESSION, date(2026, 1, 1), frozenset())
    (cache / f"xkrx-{LIB}-2024-01-02.json").write_text(json.dumps(old.to_json()))
    return cache, session_table(cache, LATE_DAY)


@pytest.fixture(scope="module")
def calendar(rebuilt: tuple[Path, SessionTable]) -> KrxCalendar:
    return KrxCalendar(rebuilt[1].sessions())


# --- the horizon --------------------------------------------------------------------------


def test_a_table_built_long_ago_is_rebuilt_when_its_horizon_is_near(rebuilt) -> None:
    cache, table = rebuilt
    assert table.built == LATE_DAY and table.horizon == LATE_DAY + BUILD_AHEAD
    # Keyed by library version and build date; the superseded table is gone.
    assert [p.name for p in cache.iterdir()] == [f"xkrx-{LIB}-{LATE_DAY.isoformat()}.json"]
    assert KrxCalendar(table.sessions()).last >= date(2029, 11, 1)


def test_a_fresh_home_uses_the_packaged_table_without_building(tmp_path: Path) -> None:
    packaged = packaged_table()
    assert packaged is not None
    table = session_table(tmp_path / "cache", packaged.built)
    assert table == packaged
    assert not (tmp_path / "cache").exists()  # nothing built, nothing written


def test_a_cached_table_with_its_horizon_far_enough_is_used(tmp_path: Path) -> None:
    marker = date(2027, 12, 2)  # a Thursday the library trades: closed only in this table
    table = SessionTable(LIB, LATE_DAY, FIRST_SESSION, date(2030, 1, 1), frozenset({marker}))
    (tmp_path / f"xkrx-{LIB}-{LATE_DAY.isoformat()}.json").write_text(
        json.dumps(table.to_json()))
    cal = krx_calendar(tmp_path, LATE_DAY)
    assert not cal.is_trading_day(marker) and cal.is_trading_day(LATE_DAY)


def test_the_packaged_table_is_what_the_library_says(rebuilt) -> None:
    packaged = packaged_table()
    assert packaged is not None and packaged.horizon >= date(2028, 6, 1)
    built = [d for d in rebuilt[1].sessions() if d <= packaged.horizon]
    assert packaged.sessions() == tuple(built)


# --- 2027 and 2028 ------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "trades"), [
    (date(2027, 12, 1), True),     # a Wednesday
    (date(2027, 12, 27), False),   # Christmas holiday in lieu
    (date(2027, 12, 31), False),   # year-end closing day
    (date(2028, 1, 3), True),      # first session of 2028
    (date(2028, 5, 1), False),     # Labour Day
    (date(2028, 10, 5), False),    # extra Chuseok day
    (date(2028, 12, 1), True),     # a Friday
])
def test_the_calendar_knows_2027_and_2028(calendar: KrxCalendar, day: date,
                                          trades: bool) -> None:
    assert calendar.is_trading_day(day) is trades
    window = check_order_window(kst(day, 11), calendar)
    assert window.accepts_orders is trades
    if not trades:
        assert window.refusal is WindowRefusal.HOLIDAY


# --- the project's special days -----------------------------------------------------------


@pytest.mark.parametrize("day", sorted(CLOSURES))
def test_each_closure_is_not_a_trading_day(calendar: KrxCalendar, day: date) -> None:
    assert day.weekday() < 5
    assert not calendar.is_trading_day(day) and calendar.hours(day) is None
    window = check_order_window(kst(day, 10), calendar)
    assert window.refusal is WindowRefusal.HOLIDAY and day.isoformat() in window.detail


def test_2026_06_03_local_elections_closed_even_in_a_calendar_given_that_day() -> None:
    day = date(2026, 6, 3)
    cal = KrxCalendar((date(2026, 6, 2), day, date(2026, 6, 4)))
    assert not cal.is_trading_day(day) and cal.next(date(2026, 6, 2)) == date(2026, 6, 4)
    # The broker's holiday inquiry is the authority over the table, both ways.
    reopened = cal.with_day(day, True)
    assert reopened.is_trading_day(day) and reopened.hours(day) == REGULAR_HOURS
    assert not reopened.with_day(day, False).is_trading_day(day)
    assert not cal.with_day(date(2026, 6, 4), False).is_trading_day(date(2026, 6, 4))


@pytest.mark.parametrize("day", sorted(CSAT_DAYS))
def test_each_exam_day_runs_10_00_to_16_30(calendar: KrxCalendar, day: date) -> None:
    assert calendar.hours(day) == CSAT_HOURS
    cases = [((9, 15), False, Phase.CLOSED), ((9, 45), False, Phase.PRE_OPEN_AUCTION),
             ((10, 0), True, Phase.CONTINUOUS), ((16, 0), True, Phase.CONTINUOUS),
             ((16, 25), True, Phase.CLOSING_AUCTION), ((16, 35), False, Phase.CLOSED),
             ((16, 45), False, Phase.AFTER_HOURS), ((18, 30), False, Phase.CLOSED)]
    for (hh, mm), accepts, phase in cases:
        window = check_order_window(kst(day, hh, mm), calendar)
        assert (window.accepts_orders, window.phase) == (accepts, phase), (hh, mm)
    assert "10:00–16:30" in check_order_window(kst(day, 11), calendar).detail
    assert check_order_window(kst(day, 9, 45), calendar).refusal is WindowRefusal.PRE_OPEN
    # A day order sent on the exam day can be booked until its own close.
    margin = timedelta(minutes=5)
    assert last_booking_moment(day, calendar, margin) == kst(day, 16, 30) + margin


@pytest.mark.parametrize("day", [date(2026, 1, 2), date(2027, 1, 4), date(2028, 1, 3)])
def test_the_first_session_of_each_year_opens_at_10_00(calendar: KrxCalendar,
                                                         day: date) -> None:
    assert calendar.hours(day) == LATE_OPEN_HOURS
    assert "first session of the year" in calendar.special(day)
    refused = check_order_window(kst(day, 9, 30), calendar)
    assert refused.refusal is WindowRefusal.PRE_OPEN and "from 10:00" in refused.detail
    assert check_order_window(kst(day, 9, 5), calendar).refusal is WindowRefusal.PRE_OPEN
    assert check_order_window(kst(day, 10, 0), calendar).accepts_orders
    assert check_order_window(kst(day, 15, 25), calendar).accepts_orders
    assert not check_order_window(kst(day, 15, 35), calendar).accepts_orders
    # The next session is a regular one.
    following = calendar.next(day)
    assert following is not None and calendar.hours(following) == REGULAR_HOURS
    assert check_order_window(kst(following, 9, 5), calendar).accepts_orders


def test_a_regular_day_keeps_09_00_to_15_30(calendar: KrxCalendar) -> None:
    day = date(2027, 11, 17)  # the day before the 2027 exam day
    assert calendar.hours(day) == REGULAR_HOURS and calendar.special(day) == ""
    assert check_order_window(kst(day, 9, 0), calendar).accepts_orders
    assert not check_order_window(kst(day, 16, 0), calendar).accepts_orders


# --- KIS's holiday inquiry ----------------------------------------------------------------


def test_chk_holiday_on_the_real_protocol_reports_each_day(tmp_path: Path) -> None:
    sim = make_sim(real_tr_ids=True)

    async def go():
        async with make_client(sim, tmp_path) as kis:
            return await chk_holiday(kis, date(2026, 6, 1))

    days = {d.day: d for d in asyncio.run(go())}
    assert len(days) == 24 and min(days) == date(2026, 6, 1)
    assert days[date(2026, 6, 1)].open and days[date(2026, 6, 1)].business_day
    assert not days[date(2026, 6, 3)].open       # the local-election closure
    assert not days[date(2026, 6, 6)].open       # a Saturday
    assert sim.state.counter("served:CTCA0903R") == 1


def test_kis_answers_are_cached_per_day_and_a_paper_refusal_leaves_the_table(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    real, paper = make_sim(real_tr_ids=True), make_sim()
    cache = HolidayCache(tmp_path / "holidays")

    async def go(sim, day):
        async with make_client(sim, tmp_path / "tokens") as kis:
            return await market_day(kis, day, cache)

    first = asyncio.run(go(real, date(2026, 6, 3)))
    again = asyncio.run(go(real, date(2026, 6, 3)))
    later = asyncio.run(go(real, date(2026, 6, 4)))  # in the first answer's rows
    assert first == again and first is not None and not first.open
    assert later is not None and later.open
    assert real.state.counter("served:CTCA0903R") == 1
    with caplog.at_level(logging.INFO, logger="quartz_cli.kis.holidays"):
        assert asyncio.run(go(paper, date(2026, 7, 1))) is None
    assert "the calendar table decides" in caplog.text
    assert paper.state.counter("served:CTCA0903R") == 0


def test_in_prod_kis_is_the_authority_and_a_disagreement_is_logged(
        quartz_home: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from quartz_cli.app.market_calendar import trading_calendar
    from quartz_cli.app.runtime import open_runtime
    from quartz_cli.config import load_config

    sim = make_sim(real_tr_ids=True)
    table = krx_calendar(None)
    asked: list[str] = []

    async def contrary(request: Request):
        # KIS disagrees with the table about whichever day is asked.
        gate = check_gateway(sim, request, {"CTCA0903R"})
        if gate.error:
            return gate.error
        text = request.query_params["BASS_DT"]
        asked.append(text)
        day = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        flag = "N" if table.is_trading_day(day) else "Y"
        return envelope("MCA00000", "ok", tr_id=gate.tr_id, output=[{
            "bass_dt": text, "wday_dvsn_cd": "02", "bzdy_yn": flag, "tr_day_yn": flag,
            "opnd_yn": flag, "sttl_day_yn": flag}])

    sim.app.router.routes.insert(0, Route(HOLIDAY_PATH, contrary))
    with LoopbackServer(sim.app) as srv:
        for key, value in {"QUARTZ_ENV": "prod", "QUARTZ_KIS_BASE_URL": srv.url,
                           "HANSEC_INVESTMENT_APP_KEY": "k" * 36,
                           "HANSEC_INVESTMENT_APP_SECRET_KEY": "s" * 180,
                           "HANSEC_INVESTMENT_CANO": "12345678"}.items():
            monkeypatch.setenv(key, value)
        config = load_config()
        today = config.market_now().astimezone(KST).date()

        async def go():
            rt = open_runtime(config)
            try:
                return await trading_calendar(rt), await trading_calendar(rt)
            finally:
                await rt.aclose()

        with caplog.at_level(logging.WARNING, logger="quartz_cli.app.market_calendar"):
            first, second = asyncio.run(go())
    assert first.is_trading_day(today) is not table.is_trading_day(today)
    assert second.is_trading_day(today) is first.is_trading_day(today)
    assert asked == [today.strftime("%Y%m%d")]  # the second answer came from the day's cache
    assert "Following KIS" in caplog.text and today.isoformat() in caplog.text


# --- the CLI on the market clock ----------------------------------------------------------


def test_a_buy_on_2027_12_01_is_not_refused_as_a_non_trading_day(
        quartz_home: Path, rebuilt) -> None:
    from quartz_cli.config import LOCAL_CANO
    from quartz_cli.sim import SimState, Simulator
    from quartz_cli.sim.exchange import exchange_for

    cache = quartz_home / "cache"
    cache.mkdir(parents=True)
    for f in rebuilt[0].glob("xkrx-*.json"):
        (cache / f.name).write_bytes(f.read_bytes())
    sim = Simulator(SimState(quartz_home / "sim" / "local.db"), cache_dir=cache)

    def held() -> int:
        rows, _ = exchange_for(sim).holdings(LOCAL_CANO, kst(LATE_DAY, 10, 5))
        return sum(int(r["hldg_qty"]) for r in rows if r["pdno"] == "000270")

    before = held()
    proc = quartz("trade", "buy", "000270", "1", "--yes",
                  env={"QUARTZ_MARKET_TIME": "2027-12-01T10:00:00+09:00"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "not a KRX trading day" not in proc.stdout + proc.stderr
    assert held() == before + 1


def test_a_market_clock_before_the_synthetic_market_is_a_configuration_error(
        quartz_home: Path) -> None:
    proc = quartz("trade", "buy", "000270", "1", "--yes",
                  env={"QUARTZ_MARKET_TIME": "2021-06-01T10:00:00+09:00"})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "before the synthetic market's first session (2022-01-03" in proc.stderr
    assert "hint: set QUARTZ_MARKET_TIME to 2022-01-03" in proc.stderr
    assert "KeyError" not in proc.stderr and "IndexError" not in proc.stderr
    # The simulator served on loopback refuses to start on such a clock.
    served = quartz("sim", "serve", "--port", "1",
                    env={"QUARTZ_MARKET_TIME": "2021-06-01T10:00:00+09:00"}, timeout=60)
    assert served.returncode == 3 and "hint: set QUARTZ_MARKET_TIME" in served.stderr


def test_the_sample_market_refuses_a_moment_before_its_first_session() -> None:
    from quartz_cli.domain.universe import bundled_universe
    from quartz_cli.sim.market import BeforeMarketStart, SampleMarket

    market = SampleMarket(bundled_universe(), krx_calendar(None))
    with pytest.raises(BeforeMarketStart) as err:
        market.quote("005930", kst(date(2021, 12, 30), 10))
    assert err.value.exit_code == 3 and err.value.hint
    with pytest.raises(BeforeMarketStart):
        market.bars("005930", kst(date(2022, 1, 3), 8))
    assert market.quote("005930", kst(date(2022, 1, 4), 10)).session_date == date(2022, 1, 4)


def test_the_owner_checks_each_order_on_the_days_refreshed_calendar(in_session: Path) -> None:
    """The owner takes the day's calendar before each check (in prod: KIS's verdict), so a
    server started before a closure is announced still refuses orders on it."""
    from quartz_cli.app.owner import account_owner
    from quartz_cli.domain.orders import OrderRequest, OrderState
    from trading_support import FAST, local

    env = local(in_session)
    owner = account_owner(env.rt, FAST)
    market_day = env.config.market_now().astimezone(KST).date()
    assert owner.calendar.is_trading_day(market_day)

    async def closed_today() -> KrxCalendar:
        return krx_calendar(in_session / "cache").with_day(market_day, False)

    owner.refresh_calendar = closed_today

    async def go():
        try:
            return await owner.submit(OrderRequest(
                request_id="cal-closed", action="buy", ticker="005930", qty=1,
                order_type="market", price=0, timestamp=env.config.market_now()))
        finally:
            await env.rt.aclose()

    outcome = asyncio.run(go())
    assert outcome.state is OrderState.REJECTED and "not a KRX trading day" in outcome.message
    assert env.booked() == []
