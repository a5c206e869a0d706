"""Notifications from the event log to loopback servers that speak the Telegram Bot API,
Slack incoming-webhook and generic JSON-webhook shapes: each message arrives exactly once, in
order, after a restart in the middle and an endpoint outage; a rejected order never reads as
a fill; the first start replays nothing; a backlog over the limit says what it skipped."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route as HttpRoute

from fakes.server import LoopbackServer
from quartz_cli.agents.notifier import Notifier, Route
from quartz_cli.app.events import event_log, record
from quartz_cli.domain.events import EventType
from quartz_cli.domain.notifications import parse_selection
from quartz_cli.domain.orders import OrderRequest
from quartz_cli.notify.channels import SlackChannel, TelegramChannel, WebhookChannel
from quartz_cli.store.event_log import SqliteEventLog
from trading_support import local

BOT_TOKEN = "123456:ABCdefGhIJKlmNoPQRstuVWxyz-canary"
SELECTION = parse_selection("order.filled,order.partially_filled,order.rejected,"
                            "order.refused,job.failed")


class Fakes:
    """Telegram, Slack and a webhook on one loopback app; `down` makes one fail."""

    def __init__(self) -> None:
        self.telegram: list[dict] = []
        self.slack: list[dict] = []
        self.webhook: list[dict] = []
        self.down: set[str] = set()

        async def telegram(request: Request) -> Response:
            if request.path_params["token"] != BOT_TOKEN:
                return JSONResponse({"ok": False, "error_code": 401,
                                     "description": "Unauthorized"}, status_code=401)
            if "telegram" in self.down:
                return JSONResponse({"ok": False, "error_code": 429,
                                     "description": "Too Many Requests: retry after 3",
                                     "parameters": {"retry_after": 3}}, status_code=429)
            body = await request.json()
            assert set(body) >= {"chat_id", "text"}
            self.telegram.append(body)
            return JSONResponse({"ok": True, "result": {"message_id": len(self.telegram),
                                                        "text": body["text"]}})

        async def slack(request: Request) -> Response:
            if "slack" in self.down:
                return PlainTextResponse("internal_error", status_code=500)
            self.slack.append(await request.json())
            return PlainTextResponse("ok")

        async def webhook(request: Request) -> Response:
            if "webhook" in self.down:
                return PlainTextResponse("upstream down", status_code=503)
            self.webhook.append(await request.json())
            return Response(status_code=204)

        self.app = Starlette(routes=[
            HttpRoute("/bot{token}/sendMessage", telegram, methods=["POST"]),
            HttpRoute("/services/T000/B000/XXXX", slack, methods=["POST"]),
            HttpRoute("/hook", webhook, methods=["POST"]),
        ])


def routes(url: str) -> list[Route]:
    return [Route(TelegramChannel(url, BOT_TOKEN, "-100200"), SELECTION, "ko"),
            Route(SlackChannel(f"{url}/services/T000/B000/XXXX"), SELECTION, "en"),
            Route(WebhookChannel(f"{url}/hook"), SELECTION, "en")]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def order(rid: str, **kw) -> OrderRequest:
    base = {"request_id": rid, "action": "buy", "ticker": "005930", "qty": 1,
            "order_type": "market", "price": 0, "timestamp": datetime.now(UTC)}
    return OrderRequest(**(base | kw))


def test_a_day_arrives_once_in_order_through_an_outage_and_a_restart(in_session):
    env = local(in_session)
    log = event_log(env.config)
    fakes = Fakes()
    clock = Clock()
    # History before the first start is never replayed.
    record(env.config, EventType.JOB_FINISHED, data={"job": "old", "exit_code": 5})

    async def day(url: str) -> None:
        async def trade(*requests: OrderRequest) -> None:
            for r in requests:
                await env.agent.submit(r)
            await env.agent.refresh()

        async with env.rt:
            first = Notifier(log, routes(url), clock=clock)
            assert await first.deliver() == 0
            await trade(order("n-buy", qty=2), order("n-rej", action="sell", qty=10_000))
            assert await first.deliver() == 6  # a fill and a rejection, to each of three

            # The webhook goes down; more happens; Telegram and Slack keep up.
            fakes.down.add("webhook")
            await trade(order("n-buy2", qty=1))
            record(env.config, EventType.JOB_FINISHED, data={"job": "decide", "exit_code": 9})
            assert await first.deliver() == 4
            assert first.routes[2].failures == 1 and first.routes[2].next_try > clock.now
            await first.aclose()

            # Restart (a new notifier over the same log); the webhook is back.
            fakes.down.clear()
            clock.now += 60
            second = Notifier(log, routes(url), clock=clock)
            assert await second.deliver() == 2  # only the webhook's two missed events
            assert await second.deliver() == 0
            await second.aclose()

    with LoopbackServer(fakes.app) as srv:
        asyncio.run(day(srv.url))

    fills = [e for e in log.since(0) if e.type == "order.filled"]
    wanted = [e for e in log.since(0) if e.type in ("order.filled", "order.rejected")
              or (e.type == "job.finished" and e.data["exit_code"] != 0)][1:]  # not "old"
    assert [m["event"]["seq"] for m in fakes.webhook] == [e.seq for e in wanted]
    assert len(fakes.telegram) == len(fakes.slack) == len(fakes.webhook) == 4
    # Telegram in Korean, Slack in English; the rejected sell never reads as a fill.
    assert fakes.telegram[1]["text"] == f"[quartz {log.account}] ✅ 체결 완료: 005930 매수 2주 @ " \
        f"{fills[0].data['avg_fill_price']:,}원"
    assert fakes.slack[0]["text"].startswith(f"[quartz {log.account}] ❌ Rejected by the broker")
    assert all("Filled" not in m["text"] for m in fakes.slack if " sell " in m["text"])
    assert sum("Filled" in m["text"] for m in fakes.slack) == len(fills) == 2
    assert fakes.telegram[0]["chat_id"] == "-100200"


def test_backlog_over_the_limit_says_what_it_skipped(tmp_path):
    log = SqliteEventLog(tmp_path / "ledger.db", "acct0000test")
    fakes = Fakes()

    async def go(url: str) -> int:
        notifier = Notifier(log, [Route(WebhookChannel(f"{url}/hook"), SELECTION, "en")],
                            backlog_limit=2, clock=Clock())
        await notifier.deliver()
        for i in range(5):
            log.append("job.finished", data={"job": f"j{i}", "exit_code": 1})
        try:
            return await notifier.deliver()
        finally:
            await notifier.aclose()

    with LoopbackServer(fakes.app) as srv:
        assert asyncio.run(go(srv.url)) == 3
    assert fakes.webhook[0]["text"].startswith("Skipped 3 notifications")
    assert "events 1–3" in fakes.webhook[0]["text"]
    assert [m["event"]["data"]["job"] for m in fakes.webhook[1:]] == ["j3", "j4"]


def test_a_throttled_telegram_waits_as_long_as_it_asked(tmp_path):
    log = SqliteEventLog(tmp_path / "ledger.db", "acct0000test")
    fakes = Fakes()
    clock = Clock()

    async def go(url: str) -> None:
        notifier = Notifier(log, [Route(TelegramChannel(url, BOT_TOKEN, "1"), SELECTION)],
                            retry_delays_s=(0.5,), clock=clock)
        await notifier.deliver()
        log.append("job.finished", data={"job": "x", "exit_code": 2})
        fakes.down.add("telegram")
        assert await notifier.deliver() == 0
        assert notifier.routes[0].next_try == 3  # the endpoint's retry_after, over 0.5 s
        fakes.down.clear()
        assert await notifier.deliver() == 0  # still backing off
        clock.now = 3
        assert await notifier.deliver() == 1
        await notifier.aclose()

    with LoopbackServer(fakes.app) as srv:
        asyncio.run(go(srv.url))
    assert json.dumps(fakes.telegram, ensure_ascii=False).count("작업 x 종료") == 1


def test_notify_command_delivers_from_where_it_left_off(quartz_home):
    from cli import quartz
    from quartz_cli.config import load_config

    fakes = Fakes()
    with LoopbackServer(fakes.app) as srv:
        env = {"QUARTZ_NOTIFY_WEBHOOK_URL": f"{srv.url}/hook",
               "QUARTZ_NOTIFY_WEBHOOK_EVENTS": "job.failed", "QUARTZ_NOTIFY_WEBHOOK_LANG": "ko"}
        record(load_config(), EventType.JOB_FINISHED, data={"job": "before", "exit_code": 1})
        first = quartz("events", "notify", "--once", env=env)
        record(load_config(), EventType.JOB_FINISHED, data={"job": "after", "exit_code": 1})
        record(load_config(), EventType.JOB_FINISHED, data={"job": "fine", "exit_code": 0})
        second = quartz("events", "notify", "--once", env=env)
        none = quartz("events", "notify", "--once")
    assert first.returncode == 0 and "0 notification(s) sent" in first.stderr, first.stderr
    assert second.returncode == 0 and "1 notification(s) sent" in second.stderr
    assert [m["event"]["data"]["job"] for m in fakes.webhook] == ["after"]
    assert fakes.webhook[0]["text"].endswith("작업 after 종료: 종료 코드 1")
    assert none.returncode == 3 and "no notification channel" in none.stderr


@pytest.mark.slow  # a `quartz trade serve` process (~5 s to start under load)
def test_the_trading_server_notifies_while_it_runs(quartz_home, calendar_cache):
    import time

    from fakes.server import free_port
    from trading_support import ServerProcess, seed_calendar

    seed_calendar(quartz_home, calendar_cache)
    fakes = Fakes()
    with LoopbackServer(fakes.app) as hooks:
        server = ServerProcess(quartz_home, free_port(), "test-internal-token-0123456789-abcdef",
                               {"QUARTZ_NOTIFY_WEBHOOK_URL": f"{hooks.url}/hook",
                                "QUARTZ_NOTIFY_POLL_S": "0.1"})
        server.start()
        try:
            token = server.env["QUARTZ_INTERNAL_TOKEN"]
            resp = httpx.post(f"http://127.0.0.1:{server.port}/api/order",
                              headers={"authorization": f"Bearer {token}"},
                              json={"request_id": "srv-big", "action": "buy", "ticker": "005930",
                                    "qty": 100000, "order_type": "market", "price": 0,
                                    "timestamp": datetime.now(UTC).isoformat()}, timeout=30)
            deadline = time.monotonic() + 30
            while not fakes.webhook and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            server.stop()
    assert resp.json()["outcome"]["state"] == "rejected"
    [message] = fakes.webhook
    assert message["event"]["type"] == "order.refused"
    assert message["event"]["request_id"] == "srv-big"


def test_the_store_archive_gets_every_event_from_the_first(in_session):
    from quartz_cli.notify.channels import StoreArchive

    env = local(in_session)
    log = event_log(env.config)
    record(env.config, EventType.JOB_STARTED, data={"job": "before-start"})

    async def go() -> None:
        async with env.rt:
            archive = Notifier(log, [Route(StoreArchive(env.rt.store, log.account), frozenset(),
                                           archive=True)], backlog_limit=1)
            await env.agent.submit(order("arch-1"))
            assert await archive.deliver() == len(log.since(0)) >= 4
            assert await archive.deliver() == 0

    asyncio.run(go())
    keys = sorted(env.rt.store.list(f"events/{log.account}/"))
    stored = [json.loads(env.rt.store.get(k) or b"") for k in keys]
    assert [e["type"] for e in stored] == [e.type for e in log.since(0)]
    assert {"job.started", "order.requested", "order.sent", "order.accepted"} <= {
        e["type"] for e in stored}
    assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))
    assert keys[0].endswith("/000000000001.json")
