"""Input bounds at the trading server, over loopback with uvicorn set up as `quartz trade
serve` sets it up: strict types, the request_id pattern, body and frame size limits, deep
JSON, a header timeout, and the internal token's rules. After each, the server still takes a
good order, and nothing bad was booked (counted at the simulator)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from fakes.server import LoopbackServer, free_port
from quartz_cli.app.internal_token import MIN_TOKEN_CHARS, internal_token
from quartz_cli.config import load_config
from quartz_cli.errors import ConfigError
from quartz_cli.servers.guards import (
    MAX_BODY_BYTES,
    MAX_FRAME_BYTES,
    HeaderTimeoutH11Protocol,
    uvicorn_options,
)
from quartz_cli.servers.trading import create_app
from trading_support import local

TOKEN = "bounds-internal-token-0123456789-abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def message(rid: str, **kw) -> dict:
    return {"request_id": rid, "action": "buy", "ticker": "005930", "qty": 1,
            "order_type": "market", "price": 0,
            "timestamp": datetime.now(UTC).isoformat()} | kw


class QuickHeaders(HeaderTimeoutH11Protocol):
    header_timeout_s = 0.5


@pytest.fixture
def served(in_session):
    env = local(in_session)
    options = uvicorn_options() | {"http": QuickHeaders}
    with LoopbackServer(create_app(env.agent, TOKEN), **options) as srv:
        yield env, srv


def ws_url(srv: LoopbackServer) -> str:
    return srv.url.replace("http://", "ws://") + "/ws/orders"


BAD_VALUES = [
    ("qty", True), ("qty", "1"), ("qty", 1.0), ("qty", 1.5), ("qty", None),
    ("price", "0"), ("price", False),
    ("request_id", "bad-id\n"), ("request_id", 12345),
]


def test_wrong_types_and_a_trailing_newline_are_refused_over_http(served):
    env, srv = served
    with httpx.Client(headers=AUTH) as http:
        answers = [http.post(srv.url + "/api/order", json=message(f"t-{i}", **{field: value}))
                   for i, (field, value) in enumerate(BAD_VALUES)]
        limit_as_text = http.post(srv.url + "/api/order", json=message(
            "t-limit", order_type="limit", price="70000"))
        good = http.post(srv.url + "/api/order", json=message("t-good"))
    assert [a.status_code for a in answers] == [422] * len(BAD_VALUES)
    assert all(a.json()["error"] == "InputError" for a in answers)
    assert "valid integer" in answers[0].json()["message"]
    assert "request_id" in answers[7].json()["message"]
    assert limit_as_text.status_code == 422
    assert good.status_code == 200 and good.json()["outcome"]["state"] == "accepted"
    assert len(env.booked()) == 1


def test_wrong_types_get_error_frames_and_the_socket_stays_up(served):
    env, srv = served

    async def go():
        async with connect(ws_url(srv), additional_headers=AUTH) as ws:
            for i, (field, value) in enumerate(BAD_VALUES):
                await ws.send(json.dumps(message(f"w-{i}", **{field: value})))
            await ws.send(json.dumps(message("w-good")))
            return [json.loads(await asyncio.wait_for(ws.recv(), 10))
                    for _ in range(len(BAD_VALUES) + 1)]

    replies = asyncio.run(go())
    errors = [r for r in replies if r["type"] == "error"]
    assert len(errors) == len(BAD_VALUES) and all(r["error"] == "InputError" for r in errors)
    good = next(r for r in replies if r["type"] == "outcome")
    assert good["request_id"] == "w-good" and good["outcome"]["state"] == "accepted"
    assert len(env.booked()) == 1


def test_huge_and_deep_json_get_json_errors_and_the_server_stays_up(served):
    env, srv = served
    deep = "[" * 100_000 + "]" * 100_000
    padded = message("big-1", ticker="005930" + " " * MAX_BODY_BYTES)
    with httpx.Client(headers=AUTH, timeout=30) as http:
        huge = http.post(srv.url + "/api/order", content=json.dumps(padded),
                         headers={"content-type": "application/json"})

        def chunks():
            yield b'{"request_id": "big-2", "pad": "'
            for _ in range(MAX_BODY_BYTES // 1024 + 1):
                yield b"x" * 1024
            yield b'"}'

        streamed = http.post(srv.url + "/api/order", content=chunks())
        deep_http = http.post(srv.url + "/api/order", content=deep[:MAX_BODY_BYTES // 2]
                              + deep[-MAX_BODY_BYTES // 2:])
        deep_cancel = http.post(srv.url + "/api/cancel-order", content='{"a":' * 10_000)
        good = http.post(srv.url + "/api/order", json=message("after-http"))
    assert huge.status_code == 413 and huge.json()["error"] == "InputError"
    assert streamed.status_code == 413 and "limit" in streamed.json()["message"]
    assert deep_http.status_code == 422 and "nested too deeply" in deep_http.json()["message"]
    assert deep_cancel.status_code == 422 and "nested too deeply" in deep_cancel.text
    assert good.status_code == 200

    async def go():
        async with connect(ws_url(srv), additional_headers=AUTH) as ws:
            await ws.send(deep[:MAX_FRAME_BYTES // 2] + deep[-MAX_FRAME_BYTES // 2:])
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.send(json.dumps(message("big-3", ticker="0" * (MAX_FRAME_BYTES + 1))))
            second = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.send(json.dumps(message("after-ws")))
            third = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return first, second, third

    first, second, third = asyncio.run(go())
    assert first["type"] == "error" and "nested too deeply" in first["message"]
    assert second["type"] == "error" and "byte limit" in second["message"]
    assert third["type"] == "outcome" and third["outcome"]["state"] == "accepted"
    assert len(env.booked()) == 2


def test_a_client_that_never_finishes_its_headers_is_cut_off(served):
    _, srv = served
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as slow:
        slow.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert slow.recv(1024) == b""  # closed by the server, no answer
        waited = time.monotonic() - started
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as silent:
        assert silent.recv(1024) == b""
    assert 0.3 < waited < 4
    assert httpx.get(srv.url + "/health/live").status_code == 200


def test_the_header_timeout_spares_kept_alive_connections_that_finish(served):
    _, srv = served
    with httpx.Client() as http:
        first = http.get(srv.url + "/health/live")
        time.sleep(0.8)  # idle longer than the header timeout, within uvicorn's keep-alive
        second = http.get(srv.url + "/health/live")
    assert first.status_code == second.status_code == 200


# --- the internal token ------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "x" * (MIN_TOKEN_CHARS - 1)])
def test_an_empty_or_short_token_is_a_configuration_error(in_session, token):
    env = local(in_session)
    with pytest.raises(ConfigError, match="QUARTZ_INTERNAL_TOKEN"):
        create_app(env.agent, token)
    config = load_config(environ={"QUARTZ_INTERNAL_TOKEN": token, "QUARTZ_HOME": "/nowhere"})
    with pytest.raises(ConfigError, match="QUARTZ_INTERNAL_TOKEN"):
        internal_token(config)
    from quartz_cli.servers.read_api import create_app as read_api

    with pytest.raises(ConfigError, match="read API"):
        read_api(config)


def test_the_locally_generated_token_is_long_enough(in_session):
    token = internal_token(load_config(), create=True)
    assert len(token) >= MIN_TOKEN_CHARS
    assert internal_token(load_config()) == token


def test_servers_refuse_to_start_without_a_usable_token(quartz_home: Path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTZ_")}
    env |= {"QUARTZ_HOME": str(quartz_home), "QUARTZ_INTERNAL_TOKEN": ""}
    port = str(free_port())
    runs = [subprocess.run([sys.executable, "-m", "quartz_cli", *args, "--port", port],
                           env=env, capture_output=True, text=True, timeout=60)
            for args in (["serve"], ["trade", "serve"])]
    assert [r.returncode for r in runs] == [3, 3]
    assert all("QUARTZ_INTERNAL_TOKEN is empty" in r.stderr for r in runs)


def test_a_shared_trading_folder_is_refused(quartz_home: Path):
    folder = quartz_home / "trading"
    folder.mkdir(parents=True, mode=0o700)
    folder.chmod(0o777)
    with pytest.raises(ConfigError, match="writable by its group or by others"):
        internal_token(load_config(), create=True)
    assert not (folder / "internal-token").exists()
