"""One REST budget per account: the simulator's paper limit, the budget shared by the
processes of a host, inquiries (not orders) retried after EGW00201, and probes that never
call the broker. The soak at the paper limit is in test_rate_soak.py."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from fakes.server import LoopbackServer
from kis_harness import make_client, make_sim
from quartz_cli.errors import ConfigError, RateLimited
from quartz_cli.kis.ratelimit import FileBook, RateLimiter, account_tag, budget_path
from quartz_cli.sim import SimConfig, SimState, Simulator
from quartz_cli.sim.protocol import fail
from trading_support import MARKET_TIME, local, seed_calendar, trading_server

TOKEN = "test-internal-token-0123456789-abcdef"


# --- the simulator's paper limit ----------------------------------------------------------


def test_simulator_limits_select_the_paper_accounts_limit_for_the_paper_protocol() -> None:
    assert SimConfig().rest_limit_per_s() == 18.0  # local stays fast by default
    assert SimConfig(limits="paper").rest_limit_per_s() == 1.0
    assert SimConfig(limits="paper", real_tr_ids=True).rest_limit_per_s() == 18.0
    assert SimConfig(limits="paper", rate_limit_per_s=0).rest_limit_per_s() == 0
    assert SimConfig.from_env({"QUARTZ_SIM_LIMITS": "paper"}).rest_limit_per_s() == 1.0
    with pytest.raises(ValueError, match="paper"):
        SimConfig(limits="fast")
    with pytest.raises(ConfigError, match="QUARTZ_SIM_LIMITS"):
        SimConfig.from_env({"QUARTZ_SIM_LIMITS": "fast"})


def test_paper_simulator_refuses_a_second_call_within_the_second(tmp_path) -> None:
    sim = make_sim(limits="paper")

    async def go():
        async with make_client(sim, tmp_path, rate=100) as kis:
            await kis._tokens.token()
            sim_before = sim.state.counter("rate_limited")
            await asyncio.gather(*(kis.get("/uapi/test/echo", "TTTC9999R", {})
                                   for _ in range(3)))
            return sim_before, kis

    before, kis = asyncio.run(go())
    # 100/s against a 1/s paper account: refused, waited out, retried until each fits.
    assert before == 0 and kis.rate_limited > 0
    assert sim.state.counter("rate_limited") == kis.rate_limited


def test_sim_serve_takes_limits_paper(quartz_home: Path) -> None:
    from fakes.server import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "quartz_cli", "sim", "serve", "--port",
                             str(port), "--limits", "paper", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        text = ""
        while not text.rstrip().endswith("}"):
            text += proc.stdout.readline()
        line = json.loads(text)
        deadline = time.monotonic() + 30
        while True:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/sim/status", timeout=2).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert line["limits"] == "paper" and line["rate_limit_per_s"] == 1.0
    assert status["rate_limit_per_s"] == 1.0
    bad = subprocess.run([sys.executable, "-m", "quartz_cli", "sim", "serve", "--limits",
                          "fast"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 4 and "paper" in bad.stderr


# --- retries: inquiries yes, orders no -----------------------------------------------------


def test_an_order_refused_for_rate_is_raised_not_resent(tmp_path) -> None:
    sim = make_sim()

    async def throttled(request):
        sim.state.bump("rate_limited")
        return fail("EGW00201", "초당 거래건수를 초과하였습니다.", status=500)

    sim.app.router.routes.append(Route("/uapi/test/order", throttled, methods=["POST"]))

    async def go():
        async with make_client(sim, tmp_path) as kis:
            await kis.post("/uapi/test/order", "TTTC0012U", {"PDNO": "005930"})

    with pytest.raises(RateLimited):
        asyncio.run(go())
    assert sim.state.counter("rate_limited") == 1  # sent once: the trading agent decides


# --- the budget file ------------------------------------------------------------------------


def test_account_tag_hides_the_account_number() -> None:
    from quartz_cli.config import Account

    one, other = Account("12345678", "01"), Account("12345679", "01")
    tag = account_tag("paper", one, "secret")
    assert len(tag) == 12 and "12345678" not in tag
    assert tag == account_tag("paper", Account("12345678", "01"), "secret")
    assert tag != account_tag("prod", one, "secret")
    assert tag != account_tag("paper", other, "secret")
    assert tag != account_tag("paper", one, "another-secret")
    assert budget_path(Path("/h"), "paper", tag) == Path(f"/h/cache/ratelimit/paper-{tag}.budget")


def test_a_call_holds_its_slot_until_answered_and_its_window_starts_then(tmp_path) -> None:
    """Two limiters on one file act as one: capacity counts in-flight calls, and a slot's
    window starts at its answer, so a slow call cannot let the next one in early."""
    now = [100.0]
    path = tmp_path / "b.budget"
    a = RateLimiter(2, book=FileBook(path), clock=lambda: now[0])
    b = RateLimiter(2, book=FileBook(path), clock=lambda: now[0])
    assert a.book.transact(a._take)[0] is not None
    now[0] += 0.6
    slot_b, _ = b.book.transact(b._take)
    assert slot_b is not None
    now[0] += 0.6
    blocked, wait = a.book.transact(a._take)  # two in flight: full
    assert blocked is None and wait > 0
    b.release(slot_b)
    now[0] += 0.5
    blocked, wait = a.book.transact(a._take)  # b answered 0.5 s ago: its window still runs
    assert blocked is None and wait > 0
    now[0] += 200  # the first call's owner died mid-call: its slot is freed in the end
    assert a.book.transact(a._take)[0] is not None
    a.close()
    b.close()


def _served_simulator(home: Path, **config) -> tuple[Simulator, LoopbackServer]:
    from quartz_cli.config import load_config

    cfg = load_config(environ={"QUARTZ_HOME": str(home), "QUARTZ_MARKET_TIME": MARKET_TIME})
    sim = Simulator(SimState(home / "sim" / "served.db"), SimConfig(**config),
                    clock=lambda: cfg.market_now().timestamp(), cache_dir=home / "cache")
    return sim, LoopbackServer(sim.app)


HAMMER = """
import asyncio, sys, time
from quartz_cli.config import load_config
from quartz_cli.app.runtime import open_runtime
from quartz_cli.kis.quotations import inquire_price
async def main():
    async with open_runtime(load_config()) as rt:
        await rt.tokens.token()
        start = time.monotonic()
        await asyncio.gather(*(inquire_price(rt.kis, c) for c in sys.argv[1:]))
        print(rt.kis.requests_sent, rt.kis.rate_limited, round(time.monotonic() - start, 2))
asyncio.run(main())
"""


@pytest.mark.slow
def test_three_processes_share_one_budget_at_the_paper_limit(quartz_home, calendar_cache):
    """Three processes hammer one account on a simulator enforcing the paper limit (1/s):
    the budget file makes them one caller, so the simulator refuses nothing."""
    seed_calendar(quartz_home, calendar_cache)
    sim, server = _served_simulator(quartz_home, limits="paper", token_issue_interval_s=0)
    calls = ["005930", "000660", "035420", "005380"]
    with server:
        env = {**os.environ, "QUARTZ_HOME": str(quartz_home), "QUARTZ_MARKET_TIME": MARKET_TIME,
               "QUARTZ_KIS_BASE_URL": server.url, "QUARTZ_SIM_LIMITS": "paper"}
        subprocess.run([sys.executable, "-m", "quartz_cli", "auth", "refresh"], env=env,
                       check=True, capture_output=True, timeout=60)
        started = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-c", HAMMER, *calls], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        outs = [p.communicate(timeout=180) for p in procs]
        elapsed = time.monotonic() - started
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    served = sum(v for k, v in sim.state.counters().items() if k.startswith("served:"))
    refused = sim.state.counter("rate_limited")
    print(f"\n3 processes × {len(calls)} calls at the paper limit: {served} served, "
          f"{refused} EGW00201, {elapsed:.1f} s")
    assert refused == 0
    assert served == 3 * len(calls)
    # One budget: 12 calls at 1/s cannot take less than ~11 s (three separate ones would).
    assert elapsed >= 3 * len(calls) - 1
    assert len(list((quartz_home / "cache" / "ratelimit").glob("local-*.budget"))) == 1


# --- probes ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_hundred_probes_cost_no_kis_call(quartz_home, calendar_cache):
    """`quartz trade serve` warms its token once at startup; then 200 readiness probes, of
    the trading server and of the read API, reach the broker 0 times."""
    seed_calendar(quartz_home, calendar_cache)
    env = {"QUARTZ_MARKET_TIME": MARKET_TIME, "QUARTZ_INTERNAL_TOKEN": TOKEN}
    counters = lambda: SimState(quartz_home / "sim" / "local.db").counters()  # noqa: E731
    with trading_server(env, quartz_home / "serve.log") as ws_url:
        base = ws_url.replace("ws://", "http://").removesuffix("/ws/orders")
        before = counters()
        answers = [httpx.get(f"{base}/health/ready", timeout=5) for _ in range(200)]
        after = counters()
    from quartz_cli.config import load_config
    from quartz_cli.servers.read_api import create_app

    with LoopbackServer(create_app(load_config())) as srv:
        read_api = [httpx.get(f"{srv.url}/health/ready", timeout=5) for _ in range(200)]
    last = counters()
    assert [a.status_code for a in answers] == [200] * 200
    assert [a.status_code for a in read_api] == [200] * 200
    kis_calls = after.get("requests", 0) - before.get("requests", 0)
    print(f"\n200 trading-server probes + 200 read-API probes: {kis_calls} + "
          f"{last.get('requests', 0) - after.get('requests', 0)} KIS calls")
    assert before.get("tokens_issued", 0) == 1  # the startup warm-up
    assert after == before and last == after


def test_readiness_reads_the_owner_state(in_session) -> None:
    """Not ready without a cached token or when the broker's latest call got no answer; a
    probe never issues a token nor calls the broker."""
    from quartz_cli.servers.owner_reads import owner_reads
    from quartz_cli.servers.trading import create_app

    env = local(in_session)

    async def go():
        async with env.rt:
            reads = owner_reads(env.rt)
            app = create_app(env.agent, TOKEN, ready_check=reads.ready, reads=reads)
            with LoopbackServer(app) as srv:
                async with httpx.AsyncClient(base_url=srv.url, timeout=5) as http:
                    no_token = await http.get("/health/ready")
                    await env.rt.tokens.token()
                    ok = await http.get("/health/ready")
                    env.rt.kis.unreachable = True
                    down = await http.get("/health/ready")
                    # A blip after a recent answer: still ready (the owner re-checks itself).
                    env.rt.kis.answered_at = time.monotonic() - 10
                    blip = await http.get("/health/ready")
                    env.rt.kis.unreachable = False
                return no_token, ok, down, blip, reads.state()

    no_token, ok, down, blip, state = asyncio.run(go())
    assert no_token.status_code == 503 and "token" in no_token.json()["reason"]
    assert ok.status_code == 200
    assert down.status_code == 503 and "no answer" in down.json()["reason"]
    assert blip.status_code == 200
    assert state["token_valid"] and state["broker_reachable"]
    assert env.sim.state.counter("tokens_issued") == 1  # by the test, not by a probe
    assert env.sim.state.counter("requests") == 1


def test_remote_reads_wait_out_a_read_refused_for_rate(monkeypatch) -> None:
    """The owner answers RateLimited when the broker still refused a read after its own
    retries: the job's client waits and asks again, a bounded number of times."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse

    from quartz_cli.remote import owner_reads_client as remote

    monkeypatch.setattr(remote, "RATE_LIMITED_WAITS_S", (0.01, 0.01))
    answers: list[str] = []

    async def cash(request):
        answers.append(request.url.path)
        if len(answers) in (1, 3, 4, 5):
            return JSONResponse({"error": "RateLimited", "code": "EGW00201",
                                 "message": "초당 거래건수를 초과하였습니다."}, 502)
        return JSONResponse({"cash_krw": 1234})

    app = Starlette(routes=[Route("/api/reads/orderable-cash", cash)])

    async def go():
        with LoopbackServer(app) as srv:
            client = remote.OwnerReadsClient(srv.url.replace("http://", "ws://"), TOKEN)
            try:
                first = await remote.RemoteAccount(client).orderable_cash()
                with pytest.raises(RateLimited):
                    await remote.RemoteAccount(client).orderable_cash()
            finally:
                await client.aclose()
            return first

    assert asyncio.run(go()) == 1234
    assert len(answers) == 5  # 2 for the first read, then 3 refusals: bounded


def test_the_owner_reports_its_use_of_the_limit_over_the_last_minute(in_session) -> None:
    """`GET /api/reads/rate-budget` (the dashboard's Health page in a cluster): the calls
    this owner made in the last minute, as the simulator counted them, against the limit."""
    from quartz_cli.servers.owner_reads import owner_reads
    from quartz_cli.servers.trading import create_app

    env = local(in_session)

    async def go():
        async with env.rt:
            await env.rt.market.quotes(["005930", "000660", "035420"])
            reads = owner_reads(env.rt)
            app = create_app(env.agent, TOKEN, ready_check=reads.ready, reads=reads)
            with LoopbackServer(app) as srv:
                async with httpx.AsyncClient(base_url=srv.url, timeout=5) as http:
                    anonymous = await http.get("/api/reads/rate-budget")
                    got = await http.get("/api/reads/rate-budget",
                                         headers={"authorization": f"Bearer {TOKEN}"})
            return anonymous, got.json(), env.rt.kis.endpoint.rate_per_s

    anonymous, got, limit = asyncio.run(go())
    assert anonymous.status_code == 401
    assert got["calls"] == env.sim.state.counter("requests") >= 2
    assert got["limit_per_s"] == limit and got["span_s"] == 60
    assert got["use"] == pytest.approx(got["calls"] / 60 / limit, abs=1e-3)
    assert got["refused_since_start"] == 0
