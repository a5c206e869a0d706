"""No blocking store I/O on the event loop in the decide and rebalance paths: every store call
(the documents read and published, the technical agent's documents, the LLM budget, the
decision) runs in a worker thread, so broker calls go on while the store answers."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from datetime import timedelta

from quartz_cli.agents.inputs import StoreInputs
from quartz_cli.agents.portfolio import run_decide, run_rebalance
from quartz_cli.domain.decision import DecisionInput, Position
from quartz_cli.domain.engine import EngineAnswer
from quartz_cli.domain.usage import Usage
from test_portfolio_agent import DictStore, FakeExecutor, deps

HELD = ("005930", "000660", "035420", "051910", "006400")


class BlockingStore(DictStore):
    """The `Store` port in memory, whose every call blocks the calling thread for `delay_s`
    (as a synchronous S3 client does) and notes the thread that made it."""

    def __init__(self, delay_s: float = 0.02) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.calls: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def _block(self, name: str) -> None:
        with self._lock:
            self.calls.append((name, threading.get_ident()))
        time.sleep(self.delay_s)

    def get(self, key: str) -> bytes | None:
        self._block("get")
        return super().get(key)

    def put(self, key: str, data: bytes) -> None:
        self._block("put")
        super().put(key, data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self._block("put_if_absent")
        return super().put_if_absent(key, data)

    def list(self, prefix: str) -> list[str]:
        self._block("list")
        return super().list(prefix)


class PricedLLM:
    """The `DecisionLLM` port: holds every ticker and reports a small cost, so the run reads
    and records the LLM budget."""

    name = "fake-llm"

    def estimate_usd(self, request: DecisionInput) -> float:
        return 0.001

    async def decide(self, request: DecisionInput) -> EngineAnswer:
        return EngineAnswer(proposals=(), engine="fake-llm",
                            usage=(Usage("fake-llm", 100, 10, 0.001),))


def position(ticker: str, avg_price: int = 70_000) -> Position:
    return Position(ticker=ticker, name=ticker, qty=10, sellable_qty=10, avg_price=avg_price,
                    price=70_000)


def on_loop_thread(store: BlockingStore, loop_thread: int) -> list[str]:
    return [name for name, thread in store.calls if thread == loop_thread]


def test_decide_makes_every_store_call_off_the_event_loop(
) -> None:
    store = BlockingStore()
    d = deps(positions=tuple(position(t) for t in HELD), candidates=(), store=store,
             executor=FakeExecutor())
    d = dataclasses.replace(
        d, engine=PricedLLM(),
        inputs=StoreInputs(store, d.market, env="local", max_age=timedelta(hours=6),
                           macro_max_age=timedelta(hours=6), calendar=None, produce_macro=None,
                           produce_candidates=None, progress=lambda step: None))
    loop_thread = threading.get_ident()  # asyncio.run runs the loop in this thread

    plan = asyncio.run(run_decide(d, dry_run=False))

    assert plan.engine is not None and plan.engine.name == "fake-llm"
    # One snapshot holds the five tickers' analyses.
    assert plan.inputs.sources["technical"].startswith("technical/runs/")
    kinds = {name for name, _ in store.calls}
    # The documents read and published, the budget read (list, get) and recorded
    # (put_if_absent), the decision published (put).
    assert kinds == {"get", "put", "list", "put_if_absent"}
    assert any(k.startswith("decisions/") for k in store.objects)
    assert on_loop_thread(store, loop_thread) == []
    # The five analyses are one snapshot: two writes (it and its pointer), not ten.
    assert sorted(k for k in store.objects if k.startswith("technical/")) == sorted(
        [plan.inputs.sources["technical"], "technical/runs/latest.json"])


def test_rebalance_publishes_its_decision_off_the_event_loop() -> None:
    store = BlockingStore()
    executor = FakeExecutor()
    d = deps(positions=(position("005930", avg_price=80_000),), candidates=(), store=store,
             executor=executor)
    loop_thread = threading.get_ident()

    plan = asyncio.run(run_rebalance(d, dry_run=False))

    assert [(o.side, o.ticker) for o in plan.orders] == [("SELL", "005930")]
    # The schedule read; the dated copy, the pointer; the schedule written.
    assert [name for name, _ in store.calls] == ["get", "put", "put", "put"]
    assert "rebalance/schedule.json" in store.objects
    assert on_loop_thread(store, loop_thread) == []
