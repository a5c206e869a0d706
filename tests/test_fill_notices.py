"""Real-time fill notices over KIS's WebSocket: the client (kis/realtime.py) against the
simulator's `/tryitout` (sim/realtime.py), and the trading agent's listener
(agents/fill_notices.py) moving the ledger, all on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from fakes.server import LoopbackServer
from quartz_cli.agents.fill_notices import FillNotices
from quartz_cli.agents.trading import TradingAgent
from quartz_cli.app.notices import fill_notices, notice_plan
from quartz_cli.app.runtime import Runtime, open_runtime, trading_agent
from quartz_cli.config import load_config
from quartz_cli.domain.krx import KST
from quartz_cli.domain.notices import NoticeKind
from quartz_cli.domain.orders import OrderRequest, OrderState
from quartz_cli.errors import ConfigError
from quartz_cli.kis.realtime import (
    KisNoticeStream,
    NoticeLayoutError,
    decrypt,
    parse_record,
    split_records,
    subscription,
)
from quartz_cli.redaction import redact
from quartz_cli.sim import SimConfig, SimState, Simulator
from quartz_cli.sim.exchange import exchange_for
from quartz_cli.sim.realtime import notice_hub
from trading_support import FAST

DAILY_CCLD = "served:VTTC0081R"
TODAY = datetime(2026, 11, 24, 10, 0, tzinfo=KST)


@dataclass
class Served:
    sim: Simulator
    url: str

    def counter(self, name: str) -> int:
        return self.sim.state.counter(name)

    def drop(self, *, refuse: bool) -> None:
        httpx.post(f"{self.url}/sim/realtime", json={"refuse": refuse}).raise_for_status()


@pytest.fixture
def served(in_session: Path, monkeypatch: pytest.MonkeyPatch,
           request: pytest.FixtureRequest) -> Iterator[Served]:
    """The simulator on loopback (REST and WebSocket), `local` pointed at it."""
    extra = getattr(request, "param", {})
    config = load_config()
    sim = Simulator(SimState(in_session / "sim" / "local.db"),
                    SimConfig(rate_limit_per_s=0, **extra),
                    clock=lambda: config.market_now().timestamp(),
                    cache_dir=in_session / "cache")
    with LoopbackServer(sim.app) as srv:
        monkeypatch.setenv("QUARTZ_KIS_BASE_URL", srv.url)
        monkeypatch.setenv("QUARTZ_KIS_WS_URL", srv.url.replace("http://", "ws://"))
        yield Served(sim, srv.url)


def order(rid: str, qty: int = 3, action: str = "buy", order_type: str = "market",
          price: int = 0, ticker: str = "005930") -> OrderRequest:
    return OrderRequest.model_validate({
        "request_id": rid, "action": action, "ticker": ticker, "qty": qty,
        "order_type": order_type, "price": price,
        "timestamp": datetime.now(KST).isoformat()})


async def until(condition: Callable[[], bool | Awaitable[bool]], what: str,
                limit_s: float = 20.0) -> None:
    """Wait for `condition` (a generous limit against a hang, not a speed assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while True:
        got = condition()
        if not isinstance(got, bool):
            got = await got
        if got:
            return
        assert loop.time() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.005)


@dataclass
class Listening:
    rt: Runtime
    agent: TradingAgent
    notices: FillNotices
    task: asyncio.Task[None]

    @property
    def stream(self) -> KisNoticeStream:
        assert isinstance(self.notices.stream, KisNoticeStream)
        return self.notices.stream

    async def is_state(self, rid: str, state: OrderState) -> bool:
        entry = await asyncio.to_thread(self.agent.ledger.get, rid)
        return entry is not None and entry.state is state


async def listening() -> Listening:
    """The trading agent with its fill-notice listener running and subscribed."""
    rt = open_runtime(load_config())
    agent = trading_agent(rt, FAST)
    notices = fill_notices(rt, agent)
    assert notices is not None
    stream = notices.stream
    assert isinstance(stream, KisNoticeStream)
    stream._backoff_s = (0.05,)
    task = asyncio.create_task(notices.run())
    await until(lambda: notices.counts.reconciliations >= 1, "first subscription")
    return Listening(rt, agent, notices, task)


async def stop(x: Listening) -> None:
    x.task.cancel()
    await asyncio.gather(x.task, return_exceptions=True)
    await x.rt.aclose()


def test_notices_arrive_encrypted_and_decrypt_to_the_booked_order(served: Served) -> None:
    from websockets.asyncio.client import connect

    async def go() -> tuple[str, dict, list[str]]:
        rt = open_runtime(load_config())
        agent = trading_agent(rt, FAST)
        async with httpx.AsyncClient() as http:
            key = (await http.post(f"{served.url}/oauth2/Approval", json={
                "grant_type": "client_credentials", "appkey": "k",
                "secretkey": "s"})).json()["approval_key"]
        url = served.url.replace("http://", "ws://") + "/tryitout"
        async with connect(url, ping_interval=None) as ws:
            await ws.send(subscription(key, "H0STCNI9", "my-hts-id"))
            reply = json.loads(await ws.recv())
            out = await agent.submit(order("enc-1", qty=2))
            frames = [str(await ws.recv()) for _ in range(2)]
        await rt.aclose()
        assert out.order_no
        return out.order_no, reply, frames

    order_no, reply, frames = asyncio.run(go())
    assert reply["body"]["msg_cd"] == "OPSP0000" and reply["header"]["encrypt"] == "Y"
    key, iv = reply["body"]["output"]["key"], reply["body"]["output"]["iv"]
    records = []
    for frame in frames:
        enc, tr_id, count, payload = frame.split("|", 3)
        assert (enc, tr_id, count) == ("1", "H0STCNI9", "001")
        assert "^" not in payload and order_no not in payload     # not plain text
        [fields] = split_records(decrypt(key, iv, payload), 1)
        assert fields[0] == "my-hts-id"
        records.append(parse_record(fields, TODAY))
    fill_price = next(a for a in exchange_for(served.sim).audit()
                      if a["event"] == "filled")["detail"]
    assert [r.kind for r in records] == [NoticeKind.ACK, NoticeKind.FILL]
    assert {r.order_no for r in records} == {order_no}
    assert records[1].qty == 2 and records[1].price == json.loads(fill_price)["price"]


def test_a_fill_reaches_the_ledger_from_its_notice_before_any_poll(served: Served) -> None:
    async def go() -> None:
        x = await listening()
        polls = served.counter(DAILY_CCLD)
        out = await x.agent.submit(order("rt-1", qty=3))
        assert out.state is OrderState.ACCEPTED
        await until(lambda: x.is_state("rt-1", OrderState.FILLED), "fill from the notice")
        entry = await asyncio.to_thread(x.agent.ledger.get, "rt-1")
        assert entry is not None
        filled = [a for a in exchange_for(served.sim).audit() if a["event"] == "filled"]
        assert entry.filled_qty == 3
        assert entry.avg_fill_price == json.loads(filled[-1]["detail"])["price"]
        assert served.counter(DAILY_CCLD) == polls          # no order inquiry was needed
        notes = [n for _, to, n in x.agent.ledger.history("rt-1") if to == "filled"]
        assert notes == ["fill notice: 3 at " + str(entry.avg_fill_price)]
        # The notice's fill is the event log's fill (issue 16: the ledger writes it).
        from quartz_cli.store.event_log import SqliteEventLog

        [fill] = SqliteEventLog(x.agent.ledger.path, "t").since(0, types={"order.filled"})
        assert fill.request_id == "rt-1" and fill.data["fill_qty"] == 3
        assert fill.data["note"].startswith("fill notice")
        # The approval key opens the account's stream: masked wherever text is printed.
        [key] = notice_hub(served.sim).approval_keys
        assert redact(f"key {key}") == "key ***"
        await stop(x)

    asyncio.run(go())


def test_fills_during_a_disconnect_are_reconciled_once_after_it(served: Served) -> None:
    async def go() -> None:
        x = await listening()
        await asyncio.to_thread(served.drop, refuse=True)
        await until(lambda: not x.stream.status.connected, "the stream noticed the drop")
        sent_before = len(notice_hub(served.sim).sent)
        out = await x.agent.submit(order("gap-1", qty=4))   # booked and filled in the gap
        assert out.state is OrderState.ACCEPTED and out.order_no
        polls = served.counter(DAILY_CCLD)
        await asyncio.to_thread(served.drop, refuse=False)
        await until(lambda: x.notices.counts.reconciliations >= 2, "reconnected")
        await until(lambda: x.is_state("gap-1", OrderState.FILLED), "reconciled fill")
        entry = await asyncio.to_thread(x.agent.ledger.get, "gap-1")
        assert entry is not None
        booked = next(o for o in exchange_for(served.sim).daily("50000000", "20261124",
                                                                "20261124")
                      if o["odno"] == out.order_no)
        assert entry.filled_qty == int(booked["tot_ccld_qty"]) == 4
        assert entry.avg_fill_price == int(booked["avg_prvs"])
        assert served.counter(DAILY_CCLD) - polls == 1        # one inquiry after reconnect
        moves = [(a, b, n) for a, b, n in x.agent.ledger.history("gap-1") if b == "filled"]
        assert moves == [("accepted", "filled", "refresh")]
        # The simulator never replays: nothing of the gap's order was pushed.
        hub = notice_hub(served.sim)
        assert all(n.odno != out.order_no for n in hub.sent[sent_before:])
        await stop(x)

    asyncio.run(go())


@pytest.mark.parametrize("served", [{"notice_fields": 27}], indirect=True)
def test_an_unknown_notice_layout_stops_the_stream_loudly(served: Served) -> None:
    async def go() -> None:
        x = await listening()
        await x.agent.submit(order("lay-1", qty=1))
        with pytest.raises(NoticeLayoutError, match="27 fields"):
            await asyncio.wait_for(x.task, 20)
        assert "27 fields" in x.stream.status.stopped
        assert await x.is_state("lay-1", OrderState.ACCEPTED)    # nothing read from it
        assert x.notices.counts.fills == 0
        await x.rt.aclose()

    asyncio.run(go())


@pytest.mark.parametrize("served", [{"pingpong_s": 0.02}], indirect=True)
def test_pingpong_is_answered(served: Served) -> None:
    async def go() -> None:
        x = await listening()
        await until(lambda: served.counter("ws_pongs") >= 2, "PINGPONG echoed")
        assert x.stream.status.pongs >= 2
        await stop(x)

    asyncio.run(go())


def _record(**flags: str) -> list[str]:
    fields = ["hts", "5000000001", "0000000007", "", "02", "0", "00", "0", "005930",
              "0000000005", "000070100", "101502", "0", "2", "2", "00950", "0000000005",
              "name", "0", "1", "N", "", "10", "", "삼성전자", "000070100"]
    index = {"RCTF_CLS": 5, "RFUS_YN": 12, "CNTG_YN": 13, "ACPT_YN": 14, "SIDE": 4}
    for name, value in flags.items():
        fields[index[name]] = value
    return fields


@pytest.mark.parametrize(("flags", "kind"), [
    ({}, NoticeKind.FILL),
    ({"CNTG_YN": "1", "ACPT_YN": "1"}, NoticeKind.ACK),
    ({"CNTG_YN": "1", "RFUS_YN": "1"}, NoticeKind.REJECT),
    ({"CNTG_YN": "1", "RCTF_CLS": "2"}, NoticeKind.CANCELLED),
    ({"CNTG_YN": "1", "ACPT_YN": "3"}, NoticeKind.CANCELLED),
])
def test_notice_flags_tell_acks_fills_refusals_and_cancels_apart(flags: dict[str, str],
                                                                 kind: NoticeKind) -> None:
    notice = parse_record(_record(**flags), TODAY)
    assert notice.kind is kind
    assert (notice.order_no, notice.ticker, notice.qty, notice.price) == \
        ("0000000007", "005930", 5, 70100)
    assert notice.at == datetime(2026, 11, 24, 10, 15, 2, tzinfo=KST)


def test_known_layouts_split_and_others_are_refused() -> None:
    older = [*_record()[:18], "name", "10", "", "삼성전자", "000070100"]
    assert len(split_records("^".join(older * 2), 2)) == 2          # python-kis's 23
    assert len(split_records("^".join(_record()), 1)[0]) == 26
    with pytest.raises(NoticeLayoutError, match="25 fields"):
        split_records("^".join(_record()[:25]), 1)
    with pytest.raises(NoticeLayoutError, match="flags"):
        parse_record(_record(CNTG_YN="7"), TODAY)
    with pytest.raises(NoticeLayoutError):
        parse_record(_record(SIDE="09"), TODAY)


def test_notices_are_off_without_a_websocket_and_on_needs_one(
        quartz_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = notice_plan(load_config())
    assert not plan.enabled and "QUARTZ_KIS_WS_URL" in plan.reason
    monkeypatch.setenv("QUARTZ_FILL_NOTICES", "on")
    with pytest.raises(ConfigError, match="WebSocket"):
        notice_plan(load_config())
    monkeypatch.setenv("QUARTZ_KIS_WS_URL", "ws://127.0.0.1:9")
    plan = notice_plan(load_config())
    assert plan.enabled and not plan.real_tr_ids and "paper" in plan.reason


def test_the_trading_server_listens_for_its_lifetime(served: Served) -> None:
    import time

    from starlette.testclient import TestClient

    from quartz_cli.servers.trading import create_app

    token = "test-internal-token-0123456789-abcdef"
    rt = open_runtime(load_config())
    agent = trading_agent(rt, FAST)
    notices = fill_notices(rt, agent)
    assert notices is not None
    app = create_app(agent, token, notices=notices, reconcile_interval_s=3600,
                     on_shutdown=rt.aclose)
    auth = {"authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        body = {"request_id": "srv-1", "action": "buy", "ticker": "005930", "qty": 2,
                "order_type": "market", "price": 0, "timestamp": datetime.now(KST).isoformat()}
        assert client.post("/api/order", json=body, headers=auth).status_code == 200
        deadline = time.monotonic() + 20
        while client.get("/api/orders/srv-1",
                         headers=auth).json()["outcome"]["state"] != "filled":
            assert time.monotonic() < deadline, "the fill never reached the ledger"
            time.sleep(0.01)
    assert notices.counts.fills == 1 and notices.counts.reconciliations >= 1
    order_no = agent.ledger.get("srv-1").order_no  # type: ignore[union-attr]
    assert any(n.odno == order_no and n.cntg_yn == "2" for n in notice_hub(served.sim).sent)


def test_notices_are_off_on_a_kis_domain_without_an_hts_id(
        quartz_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUARTZ_ENV", "paper")
    plan = notice_plan(load_config())
    assert not plan.enabled and "QUARTZ_KIS_HTS_ID" in plan.reason
    monkeypatch.setenv("QUARTZ_KIS_HTS_ID", "someone")
    plan = notice_plan(load_config())
    assert plan.enabled and plan.ws_url == "ws://ops.koreainvestment.com:31000"
    assert "someone" not in plan.reason


class ScriptedStream:
    """A `NoticeStream` that subscribes once and then delivers the notices a test hands it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    async def run(self, on_notice, on_connected) -> None:
        await on_connected()
        while True:
            await on_notice(await self.queue.get())
            self.queue.task_done()


def test_partial_fills_weigh_the_price_cap_at_the_quantity_and_a_refusal_cancels(
        in_session: Path) -> None:
    from quartz_cli.domain.krx import round_to_tick
    from quartz_cli.domain.notices import OrderNotice
    from quartz_cli.domain.orders import Side
    from trading_support import local

    env = local(in_session)
    quote = env.exchange.market.quote("005930", env.config.market_now())
    limit = round_to_tick(quote.price * 0.9)

    def notice(kind: NoticeKind, order_no: str, qty: int, price: int) -> OrderNotice:
        return OrderNotice(kind=kind, order_no=order_no, side=Side.BUY, ticker="005930",
                           qty=qty, price=price, at=TODAY, received_at=1e12)

    async def go() -> None:
        stream = ScriptedStream()
        listener = FillNotices(env.agent, stream)
        task = asyncio.create_task(listener.run())
        a = await env.agent.submit(order("part-1", qty=5, order_type="limit", price=limit))
        b = await env.agent.submit(order("part-2", qty=2, order_type="limit", price=limit))
        assert a.state is b.state is OrderState.ACCEPTED and a.order_no and b.order_no
        for n in (notice(NoticeKind.ACK, a.order_no, 5, limit),
                  notice(NoticeKind.FILL, a.order_no, 2, limit),
                  notice(NoticeKind.FILL, a.order_no, 3, limit - 100),
                  notice(NoticeKind.FILL, a.order_no, 1, limit),       # beyond the quantity
                  notice(NoticeKind.REJECT, b.order_no, 2, limit)):
            stream.queue.put_nowait(n)
        await stream.queue.join()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        first = env.agent.ledger.get("part-1")
        second = env.agent.ledger.get("part-2")
        assert first is not None and second is not None
        assert (first.state, first.filled_qty) == (OrderState.FILLED, 5)
        assert first.avg_fill_price == round((2 * limit + 3 * (limit - 100)) / 5)
        assert second.state is OrderState.CANCELLED and "refused" in second.message
        assert listener.counts.fills == 2 and listener.counts.acks == 1
        await env.rt.aclose()

    asyncio.run(go())


def test_a_notice_older_than_the_reconciliation_is_not_counted_twice(in_session: Path) -> None:
    from quartz_cli.domain.notices import OrderNotice
    from quartz_cli.domain.orders import Side
    from trading_support import local

    env = local(in_session)

    async def go() -> None:
        listener = FillNotices(env.agent, ScriptedStream())
        out = await env.agent.submit(order("old-1", qty=1))          # filled when booked
        assert out.order_no
        await listener.on_connected()                                # the inquiry counts it
        late = OrderNotice(kind=NoticeKind.FILL, order_no=out.order_no, side=Side.BUY,
                           ticker="005930", qty=1, price=70000, at=TODAY, received_at=1.0)
        await listener.on_notice(late)
        entry = env.agent.ledger.get("old-1")
        assert entry is not None and entry.filled_qty == 1
        assert listener.counts.dropped_covered == 1 and listener.counts.fills == 0
        await env.rt.aclose()

    asyncio.run(go())
