"""The dashboard's JSON API inside `quartz serve`, over real HTTP on loopback, against the
simulator: login and roles, the session cookie, CSRF, and the same numbers as the CLI."""

from __future__ import annotations

import json
import os
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from cli import quartz_json
from fakes.server import LoopbackServer
from quartz_cli.config import LOCAL_CANO, load_config
from quartz_cli.servers.read_api import create_app

# The market time the server and the CLI's reads share (the orders go in the session).
AFTER_CLOSE = {"QUARTZ_MARKET_TIME": "2026-11-24T19:00:00+09:00"}
OPERATOR = "o" * 40
VIEWER = "v" * 40


@pytest.fixture
def served(in_session: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("QUARTZ_INTERNAL_TOKEN", OPERATOR)
    monkeypatch.setenv("QUARTZ_DASHBOARD_VIEWER_TOKEN", VIEWER)
    monkeypatch.setenv("QUARTZ_DASHBOARD_BUNDLE", str(in_session / "no-bundle"))
    # The server's market clock runs from when this test process started, a CLI's from
    # when it starts: after the close both read the day's closing prices.
    with LoopbackServer(create_app(load_config(environ=os.environ | AFTER_CLOSE))) as srv:
        yield srv.url


def _login(url: str, token: str) -> tuple[httpx.Client, dict]:
    client = httpx.Client(base_url=url, timeout=30)
    resp = client.post("/api/ui/login", json={"token": token})
    assert resp.status_code == 200, resp.text
    return client, resp.json()


def test_login_sets_a_strict_httponly_cookie_and_pages_need_it(served: str):
    with httpx.Client(base_url=served, timeout=30) as anon:
        assert anon.get("/api/ui/overview").status_code == 401
        assert anon.post("/api/ui/login", json={"token": "x" * 40}).status_code == 401
        # The read API's own routes still want the bearer token, not a cookie.
        assert anon.get("/api/candidates").status_code == 401
        # No CORS unless configured: a cross-origin preflight gets no allowance.
        pre = anon.options("/api/ui/overview", headers={
            "origin": "https://evil.example", "access-control-request-method": "GET"})
        assert "access-control-allow-origin" not in pre.headers
        page = anon.get("/app/")
        assert page.status_code == 503 and "make web" in page.text
    resp = httpx.post(f"{served}/api/ui/login", json={"token": OPERATOR})
    cookie = resp.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=43200" in cookie
    assert resp.json()["role"] == "operator" and OPERATOR not in resp.text


def test_overview_and_orders_match_the_cli(served: str):
    bought = quartz_json("trade", "buy", "005930", "2")
    client, _ = _login(served, VIEWER)
    with closing(client):
        overview = client.get("/api/ui/overview")
        assert overview.status_code == 200, overview.text
        data = overview.json()
        status = quartz_json("status", env=os.environ | AFTER_CLOSE)
        for key in ("total_value_krw", "cash_krw", "positions", "trading_state", "account"):
            assert data[key] == status[key], key
        assert LOCAL_CANO not in overview.text
        orders = client.get("/api/ui/orders").json()
        first = orders["orders"][0]
        assert (first["request_id"], first["state"]) == (bought["request_id"], "filled")
        # The next poll shows a fill made meanwhile.
        sold = quartz_json("trade", "sell", "005930", "1")
        newer = client.get("/api/ui/orders", params={"limit": "10"}).json()["orders"]
        assert (sold["request_id"], "filled") in [(o["request_id"], o["state"]) for o in newer]
        history = client.get("/api/ui/history", params={"from": "2026-11-24",
                                                        "to": "2026-11-24"}).json()
        assert history["days"][0]["realised_pnl_krw"] == quartz_json(
            "trade", "history", "--from", "2026-11-24", "--to", "2026-11-24"
        )["days"][0]["realised_pnl_krw"]
        health = client.get("/api/ui/health").json()
        assert [a["agent"] for a in health["agents"]] == ["macro", "selection", "portfolio"]
        # No trading agent on this host: each command paces itself, and the page says so.
        assert "each command paces its own calls" in health["rate_budget"]["note"]
        assert health["token"] == status["token"] | {"remaining_s": health["token"][
            "remaining_s"]}
        assert client.get("/api/ui/macro").status_code == 404
        assert client.get("/api/ui/technical/5930X").status_code == 400
        chart = client.get("/api/ui/chart/005930", params={"period": "W"})
        assert chart.status_code == 200, chart.text
        weeks = chart.json()
        assert weeks["name"] == "삼성전자" and len(weeks["bars"]) > 20
        assert len(weeks["indicators"]["rsi14"]) == len(weeks["bars"])
        assert weeks["indicators"]["sma20"][0] is None and weeks["indicators"]["sma20"][-1]
        assert weeks["fibonacci"]["0"] >= weeks["fibonacci"]["61.8"] >= weeks["fibonacci"]["100"]
        assert client.get("/api/ui/chart/005930", params={"period": "Y"}).status_code == 400


def test_halt_needs_the_operator_and_the_csrf_token(served: str):
    viewer, vsession = _login(served, VIEWER)
    with closing(viewer):
        refused = viewer.post("/api/ui/trading-state", json={"state": "halted"},
                              headers={"x-csrf-token": vsession["csrf"]})
        assert refused.status_code == 403 and "viewer" in refused.text
    operator, session = _login(served, OPERATOR)
    with closing(operator):
        no_csrf = operator.post("/api/ui/trading-state", json={"state": "halted"})
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
        wrong = operator.post("/api/ui/trading-state", json={"state": "halted"},
                              headers={"x-csrf-token": vsession["csrf"]})
        assert wrong.status_code == 403
        assert quartz_json("trade", "state")["state"] == "active"
        halted = operator.post("/api/ui/trading-state", json={"state": "halted",
                                                              "reason": "lunch"},
                               headers={"x-csrf-token": session["csrf"]})
        assert halted.status_code == 200 and halted.json()["state"] == "halted"
        assert quartz_json("trade", "state")["reason"] == "lunch"
        assert operator.post("/api/ui/logout").status_code == 403  # CSRF on logout too
        out = operator.post("/api/ui/logout", headers={"x-csrf-token": session["csrf"]})
        assert out.status_code == 200
        assert operator.get("/api/ui/session").json() == {"role": None}
        assert operator.get("/api/ui/overview").status_code == 401


def test_the_built_bundle_is_served(in_session: Path, monkeypatch: pytest.MonkeyPatch):
    bundle = in_session / "dist"
    bundle.mkdir()
    (bundle / "index.html").write_text("<!doctype html><title>Quartz</title>")
    monkeypatch.setenv("QUARTZ_INTERNAL_TOKEN", OPERATOR)
    monkeypatch.setenv("QUARTZ_DASHBOARD_BUNDLE", str(bundle))
    with LoopbackServer(create_app(load_config())) as srv:
        home = httpx.get(srv.url + "/", follow_redirects=True)
    assert home.status_code == 200 and "<title>Quartz</title>" in home.text


def _sse(lines, until) -> list[dict]:
    """Messages of an event stream (dicts of their fields, data parsed) up to and including
    the first for which `until` is true, or to the stream's end."""
    out: list[dict] = []
    message: dict = {}
    for line in lines:
        if line.startswith(":"):
            continue
        if line:
            field, _, value = line.partition(":")
            message[field] = value.removeprefix(" ")
            continue
        if "data" in message:
            message["data"] = json.loads(message["data"])
            out.append(message)
            if until(message):
                return out
        message = {}
    return out


def test_the_stream_resumes_after_the_last_event_id_without_duplicates(
        in_session: Path, monkeypatch: pytest.MonkeyPatch):
    from quartz_cli.app.events import record

    monkeypatch.setenv("QUARTZ_INTERNAL_TOKEN", OPERATOR)
    monkeypatch.setenv("QUARTZ_DASHBOARD_STREAM_SECONDS", "1")
    config = load_config()
    first = [record(config, "order.filled", request_id=f"r{i}", data={"ticker": "005930"})
             for i in range(3)]
    with LoopbackServer(create_app(config)) as srv:
        client, _ = _login(srv.url, OPERATOR)
        with closing(client):
            assert httpx.get(srv.url + "/api/ui/stream").status_code == 401
            bad = client.get("/api/ui/stream", headers={"last-event-id": "-1"})
            assert bad.status_code == 400
            start = first[0] - 1
            with client.stream("GET", "/api/ui/stream", params={"after": str(start)}) as resp:
                assert resp.headers["content-type"].startswith("text/event-stream")
                got = _sse(resp.iter_lines(), lambda m: m.get("id") == str(first[-1]))
            assert got[0]["event"] == "hello" and got[0]["id"] == str(start)
            assert [int(m["id"]) for m in got[1:]] == first
            assert [m["data"]["request_id"] for m in got[1:]] == ["r0", "r1", "r2"]
            # While disconnected, two more events; the reconnect names the last id it saw.
            later = [record(config, "order.cancelled", request_id=f"r{i}") for i in (3, 4)]
            with client.stream("GET", "/api/ui/stream",
                               headers={"last-event-id": str(first[-1])},
                               params={"after": str(start)}) as resp:
                # The stream ends by itself after QUARTZ_DASHBOARD_STREAM_SECONDS.
                again = _sse(resp.iter_lines(), lambda m: False)
            seqs = [int(m["id"]) for m in again if m.get("event") is None]
            assert seqs == later
            assert again[0]["event"] == "hello" and again[0]["id"] == str(first[-1])


def test_health_shows_each_jobs_last_run_and_flags_a_missed_schedule(served: str):
    from datetime import UTC, datetime, timedelta

    from quartz_cli.app.events import event_log
    from quartz_cli.domain.events import EventType

    log = event_log(load_config())
    long_ago = datetime.now(UTC) - timedelta(days=3)
    try:
        # macro (twice a day) last started three days ago; select just failed.
        log.append(EventType.JOB_STARTED, now=long_ago, data={"job": "macro"})
        log.append(EventType.JOB_FINISHED, now=long_ago, data={"job": "macro", "exit_code": 0,
                                                               "seconds": 4.2})
        log.append(EventType.JOB_STARTED, data={"job": "select"})
        log.append(EventType.JOB_FINISHED, data={"job": "select", "exit_code": 7,
                                                 "seconds": 1.5})
    finally:
        log.close()
    client, _ = _login(served, VIEWER)
    with closing(client):
        jobs = {j["job"]: j for j in client.get("/api/ui/health").json()["jobs"]}
        warnings = client.get("/api/ui/overview").json()["warnings"]
    assert jobs["macro"]["state"] == "missed" and jobs["macro"]["exit_code"] == 0
    assert jobs["macro"]["last_success_at"] == long_ago.isoformat()
    assert (jobs["select"]["state"], jobs["select"]["exit_code"]) == ("failed", 7)
    assert jobs["decide"]["state"] == "never run" and jobs["decide"]["started_at"] is None
    assert jobs["decide"]["schedule"] == "0,30 9-15 * * 1-5"
    assert "job select: last run failed (exit 7)" in warnings
    assert any(w.startswith("job macro: missed its ") for w in warnings)


def test_a_session_is_good_on_every_replica_until_logout(in_session: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("QUARTZ_INTERNAL_TOKEN", OPERATOR)
    monkeypatch.setenv("QUARTZ_DASHBOARD_BUNDLE", str(in_session / "no-bundle"))
    config = load_config()
    with LoopbackServer(create_app(config)) as one, LoopbackServer(create_app(config)) as two:
        client, session = _login(one.url, OPERATOR)
        with closing(client):
            cookie = client.cookies["quartz_session"]
            # The other replica (another process in a cluster) accepts the same cookie.
            other = httpx.Client(base_url=two.url, cookies={"quartz_session": cookie})
            with closing(other):
                assert other.get("/api/ui/session").json() == session
            payload, _, signature = cookie.partition(".")
            forged = payload.replace(payload[5], "A" if payload[5] != "A" else "B", 1)
            for bad in (f"{forged}.{signature}", f"{payload}.{'x' * len(signature)}", "x"):
                assert httpx.get(f"{two.url}/api/ui/overview",
                                 cookies={"quartz_session": bad}).status_code == 401
            kept, _ = _login(one.url, OPERATOR)
            kept.close()
            assert httpx.get(f"{two.url}/api/ui/session", cookies={
                "quartz_session": kept.cookies["quartz_session"]}).json()["role"] == "operator"
            out = client.post("/api/ui/logout", headers={"x-csrf-token": session["csrf"]})
            assert out.status_code == 200
        # Logged out in the store: a replica that reads it refuses the old cookie.
        with LoopbackServer(create_app(config)) as three:
            assert httpx.get(f"{three.url}/api/ui/overview",
                             cookies={"quartz_session": cookie}).status_code == 401
        assert httpx.get(f"{one.url}/api/ui/overview",
                         cookies={"quartz_session": cookie}).status_code == 401
    # Another server secret signs differently: the cookie means nothing there.
    monkeypatch.setenv("QUARTZ_INTERNAL_TOKEN", "p" * 40)
    monkeypatch.setenv("QUARTZ_DASHBOARD_OPERATOR_TOKEN", OPERATOR)
    with LoopbackServer(create_app(load_config())) as four:
        fresh, _ = _login(four.url, OPERATOR)
        with closing(fresh):
            assert fresh.get("/api/ui/session").json()["role"] == "operator"
        assert httpx.get(f"{four.url}/api/ui/session", cookies={
            "quartz_session": kept.cookies["quartz_session"]}).json() == {"role": None}


def test_backtests_serve_a_stored_runs_metrics_and_curves(served: str):
    run = quartz_json("backtest", "--from", "2026-11-16", "--to", "2026-11-20", "--universe",
                      "005930,000660")
    client, _ = _login(served, VIEWER)
    with closing(client):
        assert client.get("/api/ui/backtests").json() == {"runs": [run["id"]]}
        got = client.get(f"/api/ui/backtests/{run['id']}").json()
        assert client.get("/api/ui/backtests/bt-none").status_code == 404
        assert client.get("/api/ui/backtests/..%2Fsecret").status_code in (400, 404)
    assert got["metrics"] == run["performance"]
    assert got["benchmark"]["metrics"] == run["benchmark"]["performance"]
    assert [(p["day"], p["value_krw"], p["benchmark_krw"]) for p in got["curve"]] == [
        (d["day"], d["value_krw"], d["benchmark_krw"]) for d in run["days"]]
    # Drawdown from the running peak: zero at the first day, the worst equals the metric.
    assert got["curve"][0]["drawdown"] == 0
    assert max(p["drawdown"] for p in got["curve"]) == pytest.approx(
        run["performance"]["max_drawdown"], abs=1e-6)


def test_in_a_cluster_the_stream_reads_the_owners_event_log(in_session: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    from starlette.applications import Starlette

    from quartz_cli.app.events import record
    from quartz_cli.servers.owner_events import event_routes

    monkeypatch.setenv("QUARTZ_INTERNAL_TOKEN", OPERATOR)
    owner = load_config()
    seqs = [record(owner, "order.filled", request_id=f"o{i}") for i in range(2)]
    with LoopbackServer(Starlette(routes=event_routes(owner, OPERATOR))) as agent:
        assert httpx.get(f"{agent.url}/api/events").status_code == 401
        # The frontend's own home is scratch: its events come from the trading agent.
        front = load_config(environ=os.environ | {
            "QUARTZ_HOME": str(in_session / "frontend-scratch"),
            "TRADING_AGENT_WS_URL": agent.url.replace("http", "ws") + "/ws/orders"})
        with LoopbackServer(create_app(front)) as srv:
            client, _ = _login(srv.url, OPERATOR)
            with closing(client), client.stream("GET", "/api/ui/stream",
                                                params={"after": "0"}) as resp:
                got = _sse(resp.iter_lines(), lambda m: m.get("id") == str(seqs[-1]))
    assert [int(m["id"]) for m in got if m.get("event") is None] == seqs
    assert got[0]["event"] == "hello"
