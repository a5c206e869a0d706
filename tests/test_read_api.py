"""The read API (`quartz serve`) over real HTTP on loopback, reading documents that the test
publishes into a real local store with `store.documents.publish`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from fakes.server import LoopbackServer, free_port
from quartz_cli.agents.documents import publish
from quartz_cli.agents.technical_snapshot import publish_snapshot
from quartz_cli.app.runtime import open_store
from quartz_cli.config import load_config
from quartz_cli.domain.documents import Document
from quartz_cli.domain.technical import TechnicalDocument
from quartz_cli.servers.read_api import create_app


class MacroSummary(Document):
    bias: str
    confidence: float
    drivers: list[str]


class MacroFull(Document):
    report: str
    series: dict[str, list[float]]


class Candidates(Document):
    tickers: list[dict[str, object]]


def _analysis(code: str, name: str, minutes_ago: int) -> TechnicalDocument:
    return TechnicalDocument(produced_at=_at(minutes_ago), env="local", code=code, name=name,
                             market_time=_at(minutes_ago), data_source="test", periods={})


def _at(minutes_ago: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes_ago)


@pytest.fixture
def config():
    return load_config()


@pytest.fixture
def store(config):
    return open_store(config)


@pytest.fixture
def api(config, store):
    with LoopbackServer(create_app(config, store)) as srv, \
            httpx.Client(base_url=srv.url, timeout=10) as client:
        yield client


def _stored(store, key: str) -> dict:
    return json.loads(store.get(key))


def test_macro_summary_follows_the_latest_pointer(api, store) -> None:
    publish(store, "macro-analysis", MacroSummary(
        produced_at=_at(700), env="local", bias="neutral", confidence=0.4, drivers=["rates"]))
    newest = publish(store, "macro-analysis", MacroSummary(
        produced_at=_at(5), env="local", bias="risk-on", confidence=0.7,
        drivers=["원/달러 환율 하락", "exports"]))

    r = api.get("/result/analysis")

    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == _stored(store, newest)
    assert r.json()["drivers"][0] == "원/달러 환율 하락"
    assert r.headers["x-quartz-document-key"] == newest
    assert 240 <= int(r.headers["x-quartz-age-seconds"]) <= 400


def test_full_report_is_a_separate_pointer(api, store) -> None:
    summary = publish(store, "macro-analysis", MacroSummary(
        produced_at=_at(1), env="local", bias="risk-off", confidence=0.6, drivers=["VIX"]))
    full = publish(store, "macro-analysis", MacroFull(
        produced_at=_at(1), env="local", report="# Macro\nlong text",
        series={"KR_BASE_RATE": [3.5, 3.25, 3.0]}), name="full", latest_name="latest-full")

    body = api.get("/result/analysis/full").json()

    assert body == _stored(store, full)
    assert body["series"]["KR_BASE_RATE"] == [3.5, 3.25, 3.0]
    assert api.get("/result/analysis").json() == _stored(store, summary)


def test_candidates(api, store) -> None:
    key = publish(store, "candidates", Candidates(
        produced_at=_at(30), env="local",
        tickers=[{"ticker": "005930", "score": 0.81}, {"ticker": "000660", "score": 0.64}]))

    r = api.get("/api/candidates")

    assert r.status_code == 200
    assert r.json() == _stored(store, key)


def test_technical_by_ticker(api, store) -> None:
    samsung = _analysis("005930", "Samsung Electronics", 10)
    first = publish_snapshot(store, [samsung, _analysis("000660", "SK hynix", 10)], "local")

    # The short code form (A + 6 characters) names the same stock.
    r = api.post("/result/analysis", json={"ticker": "A005930"})

    assert r.status_code == 200
    assert r.json() == samsung.model_dump(mode="json")
    assert r.headers["X-Quartz-Document-Key"] == first
    assert 590 <= int(r.headers["X-Quartz-Age-Seconds"]) <= 660
    # A later run that analysed one ticker carries the other one's analysis over.
    second = publish_snapshot(store, [_analysis("000660", "SK hynix (new)", 1)], "local")
    r = api.post("/result/analysis", json={"ticker": "005930"})
    assert r.json()["name"] == "Samsung Electronics"
    assert r.headers["X-Quartz-Document-Key"] == second != first
    assert api.post("/result/analysis", json={"ticker": "000660"}).json()["name"] == \
        "SK hynix (new)"


@pytest.mark.parametrize("body, status, fragment", [
    ({"ticker": "035720"}, 404, "no stored analysis of 035720"),
    ({"ticker": "5930!"}, 400, "not a KRX stock code"),
    ({"symbol": "005930"}, 400, "must name a ticker"),
    (["005930"], 400, "must name a ticker"),
])
def test_technical_bad_requests(api, body, status, fragment) -> None:
    r = api.post("/result/analysis", json=body)

    assert r.status_code == status
    assert fragment in r.json()["message"]


def test_technical_body_is_small(api) -> None:
    r = api.post("/result/analysis", json={"ticker": "005930", "pad": "x" * 5000})

    assert r.status_code == 413


def test_technical_body_must_be_json(api) -> None:
    r = api.post("/result/analysis", content=b"ticker=005930")

    assert r.status_code == 400
    assert r.json()["error"] == "InputError"


@pytest.mark.parametrize("path", ["/result/analysis", "/result/analysis/full", "/api/candidates"])
def test_nothing_published_yet_is_a_json_404(api, path) -> None:
    r = api.get(path)

    assert r.status_code == 404
    assert r.json()["error"] == "NotFound"


def test_corrupt_pointer_is_a_store_error(api, store) -> None:
    store.put("candidates/latest.json", b"{not json")

    r = api.get("/api/candidates")

    assert r.status_code == 503
    assert r.json()["error"] == "StoreError"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_read_only(api, store, method) -> None:
    publish(store, "candidates", Candidates(produced_at=_at(1), env="local", tickers=[]))

    r = api.request(method, "/api/candidates", json={"tickers": []})

    assert r.status_code == 405
    assert r.json()["error"] == "HTTPError"
    assert api.post("/api/candidates").status_code == 405


def test_unknown_path_is_json(api) -> None:
    r = api.get("/result/auth-token")  # the seed's token endpoint: tokens are never served

    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"


def test_probes(api) -> None:
    assert api.get("/health/live").json() == {"status": "ok"}
    ready = api.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_not_ready_when_the_store_is_unusable(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("QUARTZ_STORE_DIR", str(blocker / "store"))
    cfg = load_config()

    with LoopbackServer(create_app(cfg)) as srv:
        ready = httpx.get(f"{srv.url}/health/ready", timeout=10)
        live = httpx.get(f"{srv.url}/health/live", timeout=10)

    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert live.status_code == 200


async def _issue_local_token(cfg) -> str:
    from quartz_cli.app.runtime import open_runtime

    async with open_runtime(cfg) as rt:
        return (await rt.tokens.refresh()).access_token


def test_token_status_reports_without_the_token(api, config) -> None:
    before = api.get("/result/auth-token/status").json()
    token = asyncio.run(_issue_local_token(config))

    r = api.get("/result/auth-token/status")

    assert before["valid"] is False and before["layer"] is None
    body = r.json()
    assert r.status_code == 200
    assert body["env"] == "local"
    assert body["valid"] is True
    assert body["layer"] == "disk"
    assert body["remaining_s"] > 23 * 3600
    assert token not in r.text


def test_token_status_config_error_is_503(monkeypatch) -> None:
    monkeypatch.setenv("QUARTZ_ENV", "paper")
    cfg = load_config()  # paper without KIS keys: the read API still starts

    with LoopbackServer(create_app(cfg)) as srv:
        r = httpx.get(f"{srv.url}/result/auth-token/status", timeout=10)

    assert r.status_code == 503
    assert r.json()["error"] == "ConfigError"
    assert "HANSEC_INVESTMENT_APP_KEY" in r.json()["message"]


def test_bearer_token_guards_everything_but_the_probes(monkeypatch) -> None:
    secret = "internal-token-for-the-test-0123456789"
    monkeypatch.setenv("QUARTZ_INTERNAL_TOKEN", secret)
    cfg = load_config()
    publish(open_store(cfg), "candidates", Candidates(produced_at=_at(1), env="local",
                                                      tickers=[]))

    with LoopbackServer(create_app(cfg)) as srv, httpx.Client(base_url=srv.url) as client:
        missing = client.get("/api/candidates")
        wrong = client.get("/api/candidates", headers={"Authorization": "Bearer nope"})
        right = client.get("/api/candidates", headers={"Authorization": f"Bearer {secret}"})
        lower = client.get("/api/candidates", headers={"Authorization": f"bearer {secret}"})
        basic = client.get("/api/candidates", headers={"Authorization": f"Basic {secret}"})
        post = client.post("/result/analysis", json={"ticker": "005930"})
        live = client.get("/health/live")
        ready = client.get("/health/ready")

    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"] == "Unauthorized"
    assert wrong.status_code == 401
    assert secret not in wrong.text
    assert right.status_code == 200
    assert lower.status_code == 200
    assert basic.status_code == 401
    assert post.status_code == 401
    assert live.status_code == 200
    assert ready.status_code == 200


class _FailingStore:
    """A store backend with a bug: every read raises something that is not a QuartzError."""

    description = "failing test store"

    def get(self, key: str) -> bytes | None:
        raise RuntimeError("backend bug with internal-detail-xyz")

    def ping(self) -> None:
        return None


def test_an_unexpected_error_is_a_json_500_without_details(config) -> None:
    with LoopbackServer(create_app(config, _FailingStore())) as srv:
        r = httpx.get(f"{srv.url}/api/candidates", timeout=10)

    assert r.status_code == 500
    assert r.json() == {"error": "InternalError", "message": "internal error"}
    assert "internal-detail-xyz" not in r.text


def test_quartz_serve_command(quartz_home: Path) -> None:
    port = free_port()
    secret = "serve-command-token-0123456789abcdef"
    env = {**os.environ, "QUARTZ_INTERNAL_TOKEN": secret}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "quartz"), "serve", "--port",
                             str(port), "--json"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        summary = ""
        while not summary.rstrip().endswith("}"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            summary += line
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/candidates",
                              headers={"Authorization": f"Bearer {secret}"}, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "quartz serve did not answer"
                time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()

    assert json.loads(summary) == {"url": f"http://127.0.0.1:{port}", "env": "local",
                                   "bearer_token_required": True,
                                   "dashboard": f"http://127.0.0.1:{port}/app/",
                                   "dashboard_login": "QUARTZ_INTERNAL_TOKEN"}
    assert secret not in summary
    assert r.status_code == 404 and r.json()["error"] == "NotFound"
    # Ended by SIGTERM, not killed (uvicorn re-raises the signal after a clean shutdown).
    assert proc.returncode in (0, -signal.SIGTERM)


def test_the_broker_runtime_is_opened_once_per_process_not_per_request(config, store) -> None:
    from starlette.testclient import TestClient

    app = create_app(config, store)
    tokens = app.state.token_status
    with TestClient(app) as client:  # runs the ASGI lifespan, as `quartz serve` does
        opened_at_startup = tokens.runtime
        answers = [client.get("/result/auth-token/status").status_code for _ in range(3)]
        still = tokens.runtime
    assert opened_at_startup is not None and still is opened_at_startup
    assert answers == [200, 200, 200]
    assert tokens.runtime is None  # closed at shutdown
