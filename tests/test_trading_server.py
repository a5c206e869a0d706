"""The trading server on loopback (uvicorn) with real WebSocket and HTTP clients."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from fakes.server import LoopbackServer, free_port
from quartz_cli.domain.orders import OrderRequest, OrderState
from quartz_cli.errors import BrokerUnavailable, TradingAgentUnreachable
from quartz_cli.remote.trading_client import TradingClient
from quartz_cli.servers.trading import create_app
from trading_support import local

TOKEN = "test-internal-token-0123456789-abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def message(rid: str, **kw) -> dict:
    return {"request_id": rid, "action": "buy", "ticker": "005930", "qty": 1,
            "order_type": "market", "price": 0,
            "timestamp": datetime.now(UTC).isoformat()} | kw


@pytest.fixture
def served(in_session):
    env = local(in_session)
    with LoopbackServer(create_app(env.agent, TOKEN, ping_interval_s=0.2)) as srv:
        yield env, srv


def ws_url(srv: LoopbackServer) -> str:
    return srv.url.replace("http://", "ws://") + "/ws/orders"


def test_websocket_order_and_http_repeat_book_once(served):
    env, srv = served

    async def go():
        async with connect(ws_url(srv), additional_headers=AUTH) as ws:
            await ws.send(json.dumps(message("ws-1", qty=2)))
            while True:
                reply = json.loads(await ws.recv())
                if reply["type"] != "ping":
                    break
        async with httpx.AsyncClient(headers=AUTH) as http:
            again = (await http.post(srv.url + "/api/order", json=message("ws-1", qty=2))).json()
        return reply, again

    reply, again = asyncio.run(go())
    assert reply["type"] == "outcome" and reply["request_id"] == "ws-1"
    assert reply["outcome"]["state"] == "accepted" and reply["outcome"]["qty"] == 2
    assert again["outcome"]["order_no"] == reply["outcome"]["order_no"]
    assert len(env.booked()) == 1


def test_malformed_messages_get_errors_and_the_socket_stays_up(served):
    env, srv = served

    async def go():
        replies = []
        async with connect(ws_url(srv), additional_headers=AUTH) as ws:
            for bad in ("not json", json.dumps([1, 2]),
                        json.dumps(message("bad-1", ticker="59")),
                        json.dumps(message("bad-2", order_type="limit", price=70001)),
                        json.dumps(message("bad-3", qty=0))):
                await ws.send(bad)
            await ws.send(b"\x00binary")
            await ws.send(json.dumps(message("good-1")))
            while len(replies) < 7:
                reply = json.loads(await ws.recv())
                if reply["type"] != "ping":
                    replies.append(reply)
        return replies

    replies = asyncio.run(go())
    errors = [r for r in replies if r["type"] == "error"]
    assert len(errors) == 6 and all(r["error"] == "InputError" for r in errors)
    assert {r["request_id"] for r in errors} >= {"bad-1", "bad-2", "bad-3"}
    assert "tick" in next(r for r in errors if r["request_id"] == "bad-2")["message"]
    good = next(r for r in replies if r["type"] == "outcome")
    assert good["request_id"] == "good-1" and good["outcome"]["state"] == "accepted"
    assert len(env.booked()) == 1


def test_the_server_pings_and_answers_pings(served):
    _, srv = served

    async def go():
        async with connect(ws_url(srv), additional_headers=AUTH) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.send(json.dumps({"type": "ping"}))
            second = json.loads(await asyncio.wait_for(ws.recv(), 5))
            while second["type"] == "ping":
                second = json.loads(await asyncio.wait_for(ws.recv(), 5))
            return first, second

    first, second = asyncio.run(go())
    assert first["type"] == "ping" and second == {"type": "pong"}


def test_order_endpoints_need_the_bearer_token(served):
    env, srv = served

    async def go():
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(srv), additional_headers={"authorization": "Bearer no"}):
                pass
        async with httpx.AsyncClient() as http:
            codes = [(await http.post(srv.url + "/api/order", json=message("x-1"))).status_code,
                     (await http.post(srv.url + "/api/cancel-order",
                                      json={"request_id": "x", "order_no": "1"})).status_code,
                     (await http.get(srv.url + "/api/cancelable-orders")).status_code,
                     (await http.get(srv.url + "/health/live")).status_code,
                     (await http.get(srv.url + "/health/ready")).status_code]
        return refused.value.response.status_code, codes

    ws_status, codes = asyncio.run(go())
    assert ws_status == 403
    assert codes == [401, 401, 401, 200, 200]
    assert env.booked() == []


def test_client_falls_back_to_http_with_the_same_request_id(served):
    env, srv = served
    dead = f"ws://127.0.0.1:{free_port()}/ws/orders"

    async def go():
        async with TradingClient(dead, TOKEN, http_url=srv.url, deadline_s=10) as client:
            req = OrderRequest(**message("fb-1"))
            out = await client.submit(req)
            again = await client.submit(req)
            return out, again, client.sent_ws, client.sent_http

    out, again, via_ws, via_http = asyncio.run(go())
    assert out.state is OrderState.ACCEPTED and again.order_no == out.order_no
    assert via_ws == 0 and via_http == 2
    assert len(env.booked()) == 1


def test_client_reconnects_after_a_disconnect(served):
    env, srv = served

    async def go():
        async with TradingClient(ws_url(srv), TOKEN, deadline_s=10) as client:
            a = await client.submit(OrderRequest(**message("rc-1")))
            await client.disconnect()
            b = await client.submit(OrderRequest(**message("rc-2")))
            return a, b, client.reconnects, client.sent_ws

    a, b, reconnects, via_ws = asyncio.run(go())
    assert a.state is b.state is OrderState.ACCEPTED
    assert reconnects == 2 and via_ws == 2
    assert len(env.booked()) == 2


def test_client_says_the_agent_is_unreachable_when_nothing_listens(in_session):
    port = free_port()

    async def go():
        async with TradingClient(f"ws://127.0.0.1:{port}/ws/orders", TOKEN,
                                 unreachable_after_s=0.3, backoff_s=(0.05,)) as client:
            with pytest.raises(TradingAgentUnreachable) as err:
                await client.submit(OrderRequest(**message("gone-1")))
            return err.value

    err = asyncio.run(go())
    # Never connected on either path: nothing was sent, so nothing is in doubt.
    assert not err.maybe_sent
    assert f"ws://127.0.0.1:{port}/ws/orders" in err.message
    assert f"http://127.0.0.1:{port}" in err.message and "nothing was sent" in err.message


def test_cancel_and_cancelable_orders_over_http(served):
    env, srv = served

    async def go():
        q = env.sim.market.quote("005930", env.config.market_now())
        async with httpx.AsyncClient(headers=AUTH) as http:
            placed = (await http.post(srv.url + "/api/order", json=message(
                "lim-1", order_type="limit", price=q.limits.lower))).json()["outcome"]
            listed = (await http.get(srv.url + "/api/cancelable-orders")).json()["orders"]
            cancel = (await http.post(srv.url + "/api/cancel-order", json={
                "request_id": "can-1", "order_no": placed["order_no"]})).json()["outcome"]
            after = (await http.get(srv.url + "/api/cancelable-orders")).json()["orders"]
            bad = await http.post(srv.url + "/api/cancel-order", json={"request_id": "can-2"})
        return placed, listed, cancel, after, bad

    placed, listed, cancel, after, bad = asyncio.run(go())
    assert [o["order_no"] for o in listed] == [placed["order_no"]]
    assert cancel["state"] == "cancelled" and after == []
    assert bad.status_code == 422 and "order_no" in bad.json()["message"]


def test_ready_reports_an_unreachable_broker(in_session):
    env = local(in_session)

    async def failing() -> None:
        raise BrokerUnavailable("cannot reach KIS at http://x: ConnectError")

    with LoopbackServer(create_app(env.agent, TOKEN, ready_check=failing)) as srv:
        resp = httpx.get(srv.url + "/health/ready")
    assert resp.status_code == 503 and resp.json()["status"] == "unavailable"


def test_order_executor_picks_the_server_when_configured(in_session, monkeypatch):
    from quartz_cli.agents.owner import AccountOwner
    from quartz_cli.app.runtime import open_order_executor, open_runtime
    from quartz_cli.config import load_config
    from quartz_cli.ports import OrderExecutor

    async def pick():
        async with open_runtime(load_config()) as rt, open_order_executor(rt) as executor:
            return executor

    in_proc = asyncio.run(pick())
    monkeypatch.setenv("TRADING_AGENT_WS_URL", "ws://127.0.0.1:8005/ws/orders")
    monkeypatch.setenv("QUARTZ_INTERNAL_TOKEN", TOKEN)
    remote = asyncio.run(pick())
    assert isinstance(in_proc, AccountOwner) and isinstance(remote, TradingClient)
    assert isinstance(in_proc, OrderExecutor) and isinstance(remote, OrderExecutor)
    assert remote.http_url == "http://127.0.0.1:8005"
