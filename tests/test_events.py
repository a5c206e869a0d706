"""The account's event log: order events come from the ledger's transitions (in the same
transaction), numbered per account, and agree with the simulator's own record of fills."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from cli import quartz
from quartz_cli.app.events import JobEvents, event_log, record
from quartz_cli.domain.events import EventType
from quartz_cli.domain.orders import OrderRequest, OrderState
from quartz_cli.errors import SafetyRefusal
from quartz_cli.store.event_log import SqliteEventLog
from trading_support import local

S = OrderState


def order(rid: str, **kw) -> OrderRequest:
    base = {"request_id": rid, "action": "buy", "ticker": "005930", "qty": 1,
            "order_type": "market", "price": 0, "timestamp": datetime.now(UTC)}
    return OrderRequest(**(base | kw))


def test_a_trading_day_writes_the_order_events_the_simulator_agrees_with(in_session):
    env = local(in_session)

    async def day():
        async with env.rt:
            await env.agent.submit(order("day-buy", qty=3))
            await env.agent.submit(order("day-rej", action="sell", qty=10_000))
            q = env.sim.market.quote("005930", env.config.market_now())
            placed = await env.agent.submit(order("day-lim", order_type="limit",
                                                  price=q.limits.lower))
            await env.agent.submit(order("day-can", action="cancel", ticker="", qty=0,
                                         order_no=placed.order_no))
            await env.agent.refresh()

    asyncio.run(day())
    log = event_log(env.config)
    events = log.since(0)
    by_request: dict[str, list[str]] = {}
    for e in events:
        by_request.setdefault(e.request_id or "", []).append(e.type)
    assert by_request["day-buy"] == ["order.requested", "order.sent", "order.accepted",
                                     "order.filled"]
    assert by_request["day-rej"] == ["order.requested", "order.sent", "order.rejected"]
    assert by_request["day-lim"][-1] == "order.cancelled"
    # Sequence numbers are strictly increasing, times are UTC, the account is its key.
    assert [e.seq for e in events] == sorted({e.seq for e in events})
    assert all(e.at.utcoffset().total_seconds() == 0 for e in events)
    assert len(log.account) == 12 and all(e.account == log.account for e in events)
    # Every fill event matches a fill in the simulator's audit, and nothing else filled.
    fills = [e for e in events if e.type in ("order.filled", "order.partially_filled")]
    sim_fills = [a for a in env.exchange.audit() if a["event"] == "filled"]
    assert sum(e.data["fill_qty"] for e in fills) == sum(
        json.loads(a["detail"])["qty"] for a in sim_fills) == 3
    assert {e.data["order_no"] for e in fills} == {a["odno"] for a in sim_fills}
    # With the configured rates' estimate of the fee (a buy pays no transaction tax).
    [bought] = fills
    assert bought.data["est_fee_krw"] == -(-3 * bought.data["avg_fill_price"] * 15 // 100_000)
    assert bought.data["est_tax_krw"] == 0
    # A rejected order never produced a fill event.
    assert not [e for e in fills if e.request_id == "day-rej"]
    rejected = next(e for e in events if e.type == "order.rejected")
    assert rejected.data["code"] == "APBK0986"


def test_a_refusal_before_sending_is_the_risk_stages(in_session):
    env = local(in_session)
    now = env.config.market_now()
    ledger = env.agent.ledger
    ledger.claim(order("risk-1"), "local", now)
    ledger.move("risk-1", S.RECEIVED, S.REJECTED, now, note="refused by the owner",
                code="max_order_krw", message="over the cap")
    [refused] = event_log(env.config).since(0, types={"order.refused"})
    assert refused.request_id == "risk-1" and refused.data["code"] == "max_order_krw"


def test_JobEvents_record_start_end_and_exit_code(in_session):
    env = local(in_session)
    with JobEvents(env.config, "decide", run_id="run-1"):
        pass
    try:
        with JobEvents(env.config, "rebalance"):
            raise SafetyRefusal("halted")
    except SafetyRefusal:
        pass
    record(env.config, EventType.DATA_STALE, data={"document": "macro-analysis",
                                                   "age_s": 90000})
    got = [(e.type, e.data.get("job"), e.data.get("exit_code")) for e in
           event_log(env.config).since(0)]
    assert got == [("job.started", "decide", None), ("job.finished", "decide", 0),
                   ("job.started", "rebalance", None),
                   ("job.finished", "rebalance", SafetyRefusal.exit_code),
                   ("data.stale", None, None)]


def test_sequence_is_monotonic_across_writers(tmp_path):
    path = tmp_path / "ledger.db"
    a, b = SqliteEventLog(path, "acct"), SqliteEventLog(path, "acct")
    seqs = [w.append("job.started", data={"i": i}) for i, w in enumerate([a, b, a, b])]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert [e.data["i"] for e in b.since(seqs[0])] == [1, 2, 3]


def test_events_command_prints_json_lines_since_a_sequence(in_session):
    env = local(in_session)
    for job in ("macro", "select", "decide"):
        record(env.config, EventType.JOB_STARTED, data={"job": job})
    all_ = quartz("events", "--json")
    after = quartz("events", "--json", "--since", "1")
    # Run as a scheduled job: its start and end (with the exit code) join the log.
    failed = quartz("events", "--since", "-1", env={"QUARTZ_JOB": "nightly"})
    text = quartz("events", "--type", "job.started", "--type", "job.finished")
    assert all_.returncode == 0 and after.returncode == 0 and text.returncode == 0, all_.stderr
    lines = [json.loads(x) for x in all_.stdout.splitlines()]
    assert [x["data"]["job"] for x in lines] == ["macro", "select", "decide"]
    assert [x["seq"] for x in map(json.loads, after.stdout.splitlines())] == [2, 3]
    assert failed.returncode == 2
    assert text.stdout.count("job.started") == 4 and "exit_code=2 job=nightly" in text.stdout
    summary = quartz("events", "jobs", "--json")
    by_job = {j["job"]: j for j in json.loads(summary.stdout)["jobs"]}
    assert by_job["nightly"]["exit_code"] == 2 and by_job["nightly"]["last_success_at"] is None
    assert by_job["decide"]["exit_code"] is None  # started, never finished


def test_token_issue_and_trading_state_changes_are_events(in_session):
    from quartz_cli.app.owner import account_owner
    from quartz_cli.domain.pretrade import TradingState
    from trading_support import FAST

    env = local(in_session)

    async def go():
        async with env.rt:
            await env.rt.tokens.refresh()

    asyncio.run(go())
    owner = account_owner(env.rt, FAST)
    owner.set_trading_state(TradingState.HALTED, "operator: test")
    owner.set_trading_state(TradingState.ACTIVE, "")
    events = event_log(env.config).since(0)
    issued = [e for e in events if e.type == "token.issued"]
    assert issued and "expires_at" in issued[-1].data
    states = [(e.data["from"], e.data["to"]) for e in events
              if e.type == "trading.state_changed"]
    assert states == [("active", "halted"), ("halted", "active")]


def test_log_lines_on_an_orders_way_carry_its_request_id(in_session):
    import io
    import logging

    from quartz_cli.app.owner import account_owner
    from quartz_cli.logs import JsonFormatter
    from trading_support import FAST

    env = local(in_session)
    owner = account_owner(env.rt, FAST)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("quartz_cli")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)

    async def go():
        async with env.rt:
            return await owner.submit(order("log-big", qty=100_000))

    try:
        out = asyncio.run(go())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert out.state is S.REJECTED
    assert lines and any(x.get("request_id") == "log-big" for x in lines), lines
    assert all(x.get("request_id") in ("log-big", None) for x in lines)


def test_a_job_pod_reports_its_events_to_the_owners_log(in_session, tmp_path, monkeypatch):
    """In a cluster a job's home is scratch: with TRADING_AGENT_WS_URL set, what it reports
    goes to the owner's log over HTTP; order events are the owner's ledger's alone."""
    import httpx
    from starlette.applications import Starlette

    from fakes.server import LoopbackServer
    from quartz_cli.config import load_config
    from quartz_cli.servers.owner_events import event_routes

    token = "test-internal-token-0123456789-abcdef"
    owner_config = load_config()
    with LoopbackServer(Starlette(routes=event_routes(owner_config, token))) as srv:
        job_home = tmp_path / "job-home"
        monkeypatch.setenv("QUARTZ_HOME", str(job_home))
        monkeypatch.setenv("QUARTZ_INTERNAL_TOKEN", token)
        monkeypatch.setenv("TRADING_AGENT_WS_URL",
                           srv.url.replace("http://", "ws://") + "/ws/orders")
        job_config = load_config()
        with JobEvents(job_config, "decide", run_id="run-7"):
            record(job_config, EventType.DECISION, run_id="run-7", data={"orders_planned": 2})
        forged = httpx.post(srv.url + "/api/events", json={"type": "order.filled"},
                            headers={"authorization": f"Bearer {token}"})
        anonymous = httpx.post(srv.url + "/api/events", json={"type": "job.started"})
    assert forged.status_code == 422 and anonymous.status_code == 401
    got = [(e.type, e.run_id, e.data) for e in event_log(owner_config).since(0)]
    assert got[0] == ("job.started", "run-7", {"job": "decide"})
    assert got[1] == ("decision.made", "run-7", {"orders_planned": 2})
    assert got[2][:2] == ("job.finished", "run-7") and got[2][2]["exit_code"] == 0
    assert len(got) == 3
    # Nothing was written in the job's own (scratch) home.
    assert not (job_home / "trading").exists() or not list((job_home / "trading").glob("*.db"))


def test_job_runs_are_read_from_the_owner_in_a_cluster(in_session, tmp_path, monkeypatch):
    from starlette.applications import Starlette

    from fakes.server import LoopbackServer
    from quartz_cli.app.dashboard import job_runs
    from quartz_cli.config import load_config
    from quartz_cli.servers.owner_events import event_routes

    token = "test-internal-token-0123456789-abcdef"
    owner_config = load_config()
    with JobEvents(owner_config, "macro"):
        pass
    monkeypatch.setenv("QUARTZ_HOME", str(tmp_path / "frontend-home"))
    monkeypatch.setenv("QUARTZ_INTERNAL_TOKEN", token)
    with LoopbackServer(Starlette(routes=event_routes(owner_config, token))) as srv:
        monkeypatch.setenv("TRADING_AGENT_WS_URL",
                           srv.url.replace("http://", "ws://") + "/ws/orders")
        remote = {r["job"]: r for r in job_runs(load_config())}
        url = srv.url
    assert remote["macro"]["exit_code"] == 0 and remote["macro"]["started_at"]
    # The owner gone: every job's state is unknown, and says why, rather than "never run".
    monkeypatch.setenv("TRADING_AGENT_WS_URL", url.replace("http://", "ws://") + "/ws/orders")
    down = job_runs(load_config())
    assert down and all(r["state"] == "unknown" and r["error"] for r in down)
