"""The seed's degraded modes under injected faults, on loopback: S3 (moto's server) stopped
and restarted mid-run, a bucket without credentials, the simulator answering 5xx. For each:
what the caller sees, and that nothing was lost or half-written (checked in S3, in this
host's pending folder and in the simulator)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cli import quartz
from fakes.server import LoopbackServer, free_port
from quartz_cli.agents.documents import publish, read_latest
from quartz_cli.agents.macro import load_summary
from quartz_cli.config import load_config
from quartz_cli.domain.documents import Document
from quartz_cli.errors import SafetyRefusal, StoreError
from quartz_cli.store.local import LocalStore
from quartz_cli.store.mirrored import RETRY_AFTER_S, MirroredStore
from quartz_cli.store.s3 import S3Store


class Note(Document):
    text: str


class Clock:
    """The mirrored store's monotonic clock, moved by the test past its retry pause."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def skip_retry_pause(self) -> None:
        self.t += RETRY_AFTER_S + 1


class S3Server:
    """moto's server on a port of its own: stopped and started again by the test (its
    objects live in the process, so they survive a restart, as S3's do an outage)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        # moto keeps its buckets per process, across servers: one bucket per test.
        self.bucket = f"quartz-faults-{uuid.uuid4().hex[:12]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.running = False

    def start(self) -> None:
        self._server.start()
        self.running = True

    def stop(self) -> None:
        self._server.stop()
        self.running = False


@pytest.fixture
def s3() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    S3Store(server.bucket, region="ap-northeast-2", endpoint_url=server.url,
            access_key_id="testing", secret_access_key="testing").client.create_bucket(
        Bucket=server.bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"})
    yield server
    if server.running:
        server.stop()


def direct(s3: S3Server) -> S3Store:
    """S3 itself, as another pod sees it."""
    return S3Store(s3.bucket, region="ap-northeast-2", prefix="paper", endpoint_url=s3.url,
                   access_key_id="testing", secret_access_key="testing")


def mirrored(s3: S3Server, root: Path, clock: Clock) -> MirroredStore:
    return MirroredStore(direct(s3), LocalStore(root / "objects"), LocalStore(root / "pending"),
                         clock=clock)


def note(text: str, minutes_ago: float = 0) -> Note:
    return Note(produced_at=datetime.now(UTC) - timedelta(minutes=minutes_ago), env="paper",
                text=text)


def test_s3_stopped_mid_run_reads_the_copy_as_stale_and_keeps_writes_until_it_returns(
        s3: S3Server, tmp_path: Path) -> None:
    clock = Clock()
    store = mirrored(s3, tmp_path, clock)
    publish(store, "notes", note("read while S3 answered", minutes_ago=5))
    assert read_latest(store, "notes", Note).from_copy is False

    s3.stop()
    stale = read_latest(store, "notes", Note)
    kept = publish(store, "decisions", note("written during the outage"))
    with pytest.raises(StoreError):
        store.put_if_absent("orders/claims/r1.json", b"{}")  # ownership: never from a copy

    assert stale is not None and stale.document.text == "read while S3 answered"
    assert stale.from_copy and stale.is_stale(timedelta(days=1))
    assert store.unreachable is not None
    assert "notes/latest.json" in store.stale_keys
    # Written by this process: read back as its own, not as a stale copy.
    again = read_latest(store, "decisions", Note)
    assert again is not None and not again.from_copy
    assert sorted(store.pending.list("")) == sorted([kept, "decisions/latest.json"])

    s3.start()
    clock.skip_retry_pause()
    assert read_latest(store, "notes", Note).from_copy is False  # S3 answers: replayed

    assert store.unreachable is None
    assert store.pending.list("") == []
    shared = read_latest(direct(s3), "decisions", Note)
    assert shared is not None and shared.key == kept
    assert shared.document.text == "written during the outage"
    assert direct(s3).get("orders/claims/r1.json") is None


def test_a_replay_never_overwrites_what_another_pod_wrote_meanwhile(
        s3: S3Server, tmp_path: Path) -> None:
    clock = Clock()
    store = mirrored(s3, tmp_path, clock)
    store.ping()
    s3.stop()
    mine = publish(store, "macro-analysis", note("this host's, older", minutes_ago=10))
    s3.start()
    theirs = publish(direct(s3), "macro-analysis", note("another pod's, newer"))

    clock.skip_retry_pause()
    store.ping()

    latest = read_latest(direct(s3), "macro-analysis", Note)
    assert latest is not None and latest.key == theirs
    assert direct(s3).get(mine) is not None  # the dated copy still went up: nothing lost
    assert store.pending.list("") == []


def _macro_summary(bias: str) -> bytes:
    from quartz_cli.domain.macro import MacroSummary

    return MacroSummary(produced_at=datetime.now(UTC), env="paper", sample_data=False,
                        engine="rules:macro-v1", market_bias_hint=bias, positive_summary="+",
                        negative_summary="-", summary=["s"], sources=[], missing_sources=[],
                        cited_sources=[]).model_dump_json().encode()


def test_macro_from_the_copy_reads_as_uncertain(s3: S3Server, tmp_path: Path) -> None:
    clock = Clock()
    store = mirrored(s3, tmp_path, clock)
    store.put("macro-analysis/2026/11/24/010000.000000Z-summary.json", _macro_summary("bullish"))
    store.put("macro-analysis/latest.json", json.dumps({
        "key": "macro-analysis/2026/11/24/010000.000000Z-summary.json",
        "produced_at": datetime.now(UTC).isoformat(), "schema_version": 1}).encode())
    assert load_summary(store, max_age=timedelta(hours=24)).bias == "bullish"

    s3.stop()
    outlook = load_summary(store, max_age=timedelta(hours=24))

    assert outlook.summary is not None and outlook.stale
    assert outlook.bias == "uncertain"
    assert "this host's last copy" in (outlook.note or "")


def _paper_env(monkeypatch: pytest.MonkeyPatch, s3: S3Server, kis_url: str) -> None:
    for key, value in {"QUARTZ_ENV": "paper", "S3_BUCKET_NAME": s3.bucket,
                       "AWS_REGION": "ap-northeast-2", "QUARTZ_S3_ENDPOINT_URL": s3.url,
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "HANSEC_INVESTMENT_APP_KEY": "PS" + "k" * 34,
                       "HANSEC_INVESTMENT_APP_SECRET_KEY": "s" * 180,
                       "HANSEC_INVESTMENT_CANO": "50123456-01",
                       "QUARTZ_KIS_BASE_URL": kis_url}.items():
        monkeypatch.setenv(key, value)


def test_the_read_api_stays_ready_while_s3_is_down_and_says_what_is_stale(
        s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from quartz_cli.app.runtime import open_store
    from quartz_cli.servers.read_api import create_app

    _paper_env(monkeypatch, s3, f"http://127.0.0.1:{free_port()}")
    config = load_config()
    store = open_store(config)
    assert isinstance(store, MirroredStore)
    publish(store, "candidates", note("candidates of the morning"))

    with LoopbackServer(create_app(config, store)) as srv, \
            httpx.Client(base_url=srv.url, timeout=10) as client:
        assert client.get("/health/ready").json() == {"status": "ready", "env": "paper"}
        s3.stop()
        doc = client.get("/api/candidates")
        ready = client.get("/health/ready")

    assert doc.status_code == 200 and doc.json()["text"] == "candidates of the morning"
    assert doc.headers["X-Quartz-Stale"].startswith("copy")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["degraded"] is True
    assert "candidates/latest.json" in body["stale"]
    assert f"s3://{s3.bucket}/paper/" in body["store"]


def test_the_seeds_bucket_name_without_credentials_is_ready_and_degraded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from quartz_cli.servers.read_api import create_app

    monkeypatch.setenv("QUARTZ_ENV", "paper")
    monkeypatch.setenv("S3_BUCKET_NAME", "quartz-bucket")
    # No credentials anywhere: no instance metadata either (it would be asked, slowly).
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    with LoopbackServer(create_app(load_config())) as srv:
        ready = httpx.get(f"{srv.url}/health/ready", timeout=10)
        macro = httpx.get(f"{srv.url}/result/analysis", timeout=10)

    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["degraded"] is True and "NoCredentialsError" in body["store"]
    assert macro.status_code == 404  # nothing was ever copied here: absent, not an error


def test_orders_still_need_the_owner_when_its_lease_is_in_an_unreachable_store(
        s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paper in a cluster without a trading server: the account's lease is in S3. With S3
    down, the run gets an executor that refuses every order (never one around the owner)."""
    from quartz_cli.app.portfolio import NoOwner, _order_executor
    from quartz_cli.app.runtime import open_runtime
    from quartz_cli.domain.orders import OrderRequest, OrderType, Side

    _paper_env(monkeypatch, s3, f"http://127.0.0.1:{free_port()}")
    s3.stop()

    async def go() -> tuple[object, Exception | None]:
        async with contextlib.AsyncExitStack() as stack:
            rt = await stack.enter_async_context(open_runtime(load_config()))
            executor = await _order_executor(stack, rt)
            request = OrderRequest(request_id="dec-x-00-buy-005930", side=Side.BUY,
                                   ticker="005930", qty=1, order_type=OrderType.LIMIT,
                                   price=70_000, timestamp=datetime.now(UTC))
            try:
                await executor.submit(request)
            except SafetyRefusal as exc:
                return executor, exc
            return executor, None

    executor, refusal = asyncio.run(go())

    assert isinstance(executor, NoOwner)
    assert refusal is not None and "owner cannot be established" in refusal.message
    assert f"s3://{s3.bucket}/paper/" in refusal.message


# ~10 s: the macro, selection and technical agents and decide, each once, in-process.
@pytest.mark.slow
def test_decide_proceeds_while_s3_is_down_and_its_decision_reaches_s3_afterwards(
        s3: S3Server, in_session: Path, tmp_path: Path) -> None:
    """`local` wired over a mirrored S3 store: the macro summary and candidates were read
    (copied) before the outage; decide then runs with S3 stopped."""
    from quartz_cli.agents.portfolio import run_decide
    from quartz_cli.agents.selection import run_selection
    from quartz_cli.app.macro import open_macro
    from quartz_cli.app.portfolio import open_portfolio
    from quartz_cli.app.selection import open_selection
    from quartz_cli.sim import SimConfig, SimState, Simulator
    from quartz_cli.sim.exchange import exchange_for

    config = load_config()
    clock = Clock()
    store = mirrored(s3, tmp_path / "copy", clock)

    async def prepare() -> None:
        async with open_macro(config, store) as agent:
            await agent.run()
        async with open_selection(config, store=store) as srt:
            await run_selection(srt.deps, now=config.market_now())

    async def decide() -> dict:
        async with open_portfolio(config, dry_run=False, store=store) as deps:
            plan = await run_decide(deps, dry_run=False)
        return plan.model_dump(mode="json")

    asyncio.run(prepare())
    s3.stop()
    plan = asyncio.run(decide())

    assert plan["inputs"]["macro"]["bias"] == "uncertain" and plan["inputs"]["macro"]["stale"]
    assert plan["inputs"]["candidates"], "the young candidates copy is still used"
    assert any("is unreachable" in n and "macro-analysis/latest.json" in n
               for n in plan["notes"]), plan["notes"]
    # Orders are claimed in the shared store before the broker is called: none went out.
    assert plan["executions"], "the rules decided to buy something"
    assert all(e["status"] in ("rejected", "refused") for e in plan["executions"])
    sim = Simulator(SimState(in_session / "sim" / "local.db"), SimConfig())
    assert [a for a in exchange_for(sim).audit() if a["event"] == "booked"] == []
    pending = store.pending.list("decisions/")
    assert "decisions/latest.json" in pending

    s3.start()
    clock.skip_retry_pause()
    store.ping()

    assert store.pending.list("") == []
    from quartz_cli.domain.plan import DecisionPlan

    stored = read_latest(direct(s3), "decisions", DecisionPlan)
    assert stored is not None and stored.document.run_id == plan["run_id"]


def test_the_simulator_answering_5xx_fails_the_order_without_booking_it(
        in_session: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = quartz("trade", "buy", "005930", "1", "--yes", "--json",
                  env={"QUARTZ_SIM_ERROR_5XX_RATE": "1", "QUARTZ_SIM_FAULT_SEED": "7"})

    assert proc.returncode == 5, proc.stderr
    assert "internal error" not in proc.stderr
    assert "HTTP 503" in proc.stderr and "the order was not sent" in proc.stderr
    from quartz_cli.sim import SimConfig, SimState, Simulator
    from quartz_cli.sim.exchange import exchange_for

    sim = Simulator(SimState(in_session / "sim" / "local.db"), SimConfig())
    assert [a for a in exchange_for(sim).audit() if a["event"] == "booked"] == []
    from quartz_cli.store.order_ledger import SqliteOrderLedger

    ledger = SqliteOrderLedger(in_session / "trading" / "local-ledger.db")
    states = {e.state.value for e in ledger.entries()}
    ledger.close()
    # Refused before the exchange saw it: a terminal state, nothing left in flight.
    assert states <= {"rejected"}, states

