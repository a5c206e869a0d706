"""`/metrics` on the long-running servers: the Prometheus text format (parsed with
prometheus_client's own parser), counters that move as orders go through, scrape-time gauges
read from the account's state, and no order number or request_id in any label."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families

from fakes.server import LoopbackServer
from quartz_cli.app.events import record
from quartz_cli.app.owner import account_owner
from quartz_cli.domain.events import EventType
from quartz_cli.servers.read_api import create_app as read_api
from quartz_cli.servers.trading import create_app
from trading_support import FAST, local

TOKEN = "test-internal-token-0123456789-abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `url`/metrics, parsed by the Prometheus text parser."""
    resp = httpx.get(url + "/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def message(rid: str, **kw) -> dict:
    return {"request_id": rid, "action": "buy", "ticker": "005930", "qty": 1,
            "order_type": "market", "price": 0,
            "timestamp": datetime.now(UTC).isoformat()} | kw


def test_trading_server_metrics_move_with_orders(in_session):
    env = local(in_session)
    owner = account_owner(env.rt, FAST)
    app = create_app(owner, TOKEN, ping_interval_s=0.2)
    record(env.config, EventType.JOB_FINISHED, data={"job": "decide", "exit_code": 0})
    with LoopbackServer(app) as srv:
        before = scrape(srv.url)
        with httpx.Client(headers=AUTH, timeout=30) as http:
            ok = http.post(srv.url + "/api/order", json=message("m-ok")).json()
            big = http.post(srv.url + "/api/order", json=message("m-big", qty=1000)).json()
        after = scrape(srv.url)
    assert ok["outcome"]["state"] == "accepted" and big["outcome"]["state"] == "rejected"
    for outcome, moved in (("requested", 2), ("sent", 1), ("accepted", 1), ("refused", 1)):
        assert (value(after, "quartz_orders_total", outcome=outcome)
                - value(before, "quartz_orders_total", outcome=outcome)) == moved, outcome
    assert value(after, "quartz_risk_refusals_total", rule="pretrade:weight_cap") >= 1
    calls = sum(v for (name, _), v in after.items() if name == "quartz_broker_requests_total")
    assert calls > sum(v for (name, _), v in before.items()
                       if name == "quartz_broker_requests_total")
    assert any(name == "quartz_broker_request_duration_seconds_bucket" for name, _ in after)
    assert ("quartz_orders_unknown_in_flight", ()) in after
    assert value(after, "quartz_up", server="trading") == 1
    # Labels never carry an order's identity.
    labels = " ".join(str(lbl) for _, lbl in after)
    assert "m-ok" not in labels and (ok["outcome"]["order_no"] or "x") not in labels


def test_read_api_metrics_show_document_age_and_job_last_success(in_session):
    env = local(in_session)
    env.rt.store.put("macro-analysis/latest.json", (
        b'{"key": "macro-analysis/x.json", "produced_at": "2026-01-01T00:00:00+00:00", '
        b'"schema_version": 1}'))
    record(env.config, EventType.JOB_FINISHED, data={"job": "macro", "exit_code": 0})
    record(env.config, EventType.JOB_FINISHED, data={"job": "select", "exit_code": 5})

    async def body():
        return read_api(env.config, env.rt.store)

    app = asyncio.run(body())
    with LoopbackServer(app) as srv:
        samples = scrape(srv.url)
    assert value(samples, "quartz_document_age_seconds", document="macro-analysis") > 86400
    assert value(samples, "quartz_job_last_success_timestamp_seconds", job="macro") > 1.7e9
    assert value(samples, "quartz_job_last_exit_code", job="select") == 5


def test_the_dashboard_and_the_docs_name_only_metrics_that_exist():
    import json
    import re
    from pathlib import Path

    from quartz_cli.metrics import metrics

    root = Path(__file__).resolve().parents[1]
    known = set()
    for family in metrics().registry.collect():
        known |= {family.name, f"{family.name}_total", f"{family.name}_bucket",
                  f"{family.name}_count", f"{family.name}_sum"}
    dashboard = json.loads((root / "docs" / "grafana" / "quartz-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    docs = (root / "docs" / "operations.md").read_text()
    for text in (exprs, docs):
        named = set(re.findall(r"\bquartz_[a-z_]+[a-z]", text))
        assert named and named <= known, sorted(named - known)
