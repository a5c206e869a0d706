"""The simulator's OAuth side over real HTTP: token rules, error shapes, `quartz sim serve`."""

import os
import subprocess
import time

import httpx

from cli import QUARTZ, quartz, quartz_json
from fakes.server import LoopbackServer, free_port
from quartz_cli.config import LOCAL_APP_KEY, LOCAL_APP_SECRET
from quartz_cli.sim import SimConfig, Simulator

BODY = {"grant_type": "client_credentials", "appkey": LOCAL_APP_KEY, "appsecret": LOCAL_APP_SECRET}


def test_token_endpoint_behaves_like_kis():
    now = [1_000_000.0]
    sim = Simulator(config=SimConfig(token_issue_interval_s=60), clock=lambda: now[0])
    with LoopbackServer(sim.app) as srv, httpx.Client(base_url=srv.url) as http:
        first = http.post("/oauth2/tokenP", json=BODY).json()
        assert first["token_type"] == "Bearer" and first["expires_in"] == 86_400
        assert len(first["access_token_token_expired"]) == 19
        again = http.post("/oauth2/tokenP", json=BODY)
        assert again.status_code == 403
        assert again.json()["error_code"] == "EGW00133"
        now[0] += 61
        same = http.post("/oauth2/tokenP", json=BODY).json()
        assert same["access_token"] == first["access_token"]  # re-issue within 6 h
        now[0] += 6 * 3600
        assert http.post("/oauth2/tokenP", json=BODY).json()["access_token"] != \
            first["access_token"]
        bad = http.post("/oauth2/tokenP", json={**BODY, "appsecret": ""})
        assert bad.status_code == 403 and bad.json()["error_code"] == "EGW00105"
        approval = http.post("/oauth2/Approval", json={"grant_type": "client_credentials",
                                                       "appkey": "k", "secretkey": "s"}).json()
        assert len(approval["approval_key"]) == 36
        hashed = http.post("/uapi/hashkey", json={"CANO": "50000000"},
                           headers={"appkey": "k", "appsecret": "s"}).json()
        assert len(hashed["HASH"]) == 64 and hashed["BODY"] == {"CANO": "50000000"}
        revoked = http.post("/oauth2/revokeP", json={"appkey": "k", "appsecret": "s",
                                                     "token": first["access_token"]})
        assert revoked.json()["code"] == 200
        assert http.post("/oauth2/revokeP", json={"token": "nope"}).json()["error_code"] == \
            "EGW00121"
    assert sim.state.counter("tokens_issued") == 2
    assert sim.state.counter("token_throttled") == 1


def test_sim_serve_on_loopback_is_shared_by_processes(tmp_path):
    port = free_port()
    db = tmp_path / "served.db"
    server = subprocess.Popen([QUARTZ, "sim", "serve", "--port", str(port), "--db", str(db)],
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "QUARTZ_SIM_TOKEN_ISSUE_INTERVAL_S": "0"})
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/sim/status", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        env = {"QUARTZ_KIS_BASE_URL": url}
        tokens = {quartz("auth", "token", env={**env, "QUARTZ_HOME": str(tmp_path / h)})
                  .stdout.strip() for h in ("a", "b")}
        assert len(tokens) == 1  # the second host asked again and got the same token (6 h rule)
    finally:
        server.terminate()
        server.wait(timeout=10)
    counters = quartz_json("sim", "status", "--db", str(db))["counters"]
    assert counters["token_requests"] == 2 and counters["tokens_issued"] == 1
