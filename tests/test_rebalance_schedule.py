"""The rebalance cadence is used, not only printed: a real run records its volume-based
interval (5–10 minutes) in the store, and a scheduled run before it is due does nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from quartz_cli.agents.portfolio import SCHEDULE_KEY, read_schedule, run_rebalance
from quartz_cli.domain.decision import Position
from quartz_cli.domain.exits import DUE_SLACK, RebalanceSchedule
from quartz_cli.domain.plan import Outcome
from test_portfolio_agent import NOW, DictStore, FakeExecutor, deps, run

LAST = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def test_a_run_is_due_once_its_interval_has_passed_with_a_minute_of_slack() -> None:
    schedule = RebalanceSchedule(LAST, timedelta(minutes=10))

    assert not schedule.is_due(LAST + timedelta(minutes=5))
    assert not schedule.is_due(LAST + timedelta(minutes=10) - DUE_SLACK - timedelta(seconds=1))
    assert schedule.is_due(LAST + timedelta(minutes=10) - DUE_SLACK)
    assert schedule.is_due(LAST + timedelta(minutes=11))
    # A clock that went backwards never stops the checks.
    assert schedule.is_due(LAST - timedelta(minutes=1))


def test_the_schedule_round_trips_and_an_unreadable_one_lets_the_run_go() -> None:
    schedule = RebalanceSchedule(LAST, timedelta(minutes=7))

    assert RebalanceSchedule.from_json(schedule.to_json()) == schedule
    assert RebalanceSchedule.from_json(b"{not json") is None
    assert RebalanceSchedule.from_json(b'{"last_run_at": "2026-11-24"}') is None


def test_a_scheduled_run_before_the_computed_interval_does_nothing() -> None:
    store = DictStore()
    held = (Position(ticker="005930", name="s", qty=10, sellable_qty=10, avg_price=70_000,
                     price=70_000),)

    first = run(run_rebalance(deps(positions=held, candidates=(), store=store,
                                   executor=FakeExecutor()), dry_run=False))
    schedule = read_schedule(store)
    early = run(run_rebalance(deps(positions=held, candidates=(), store=store,
                                   executor=FakeExecutor()), dry_run=False))
    forced = run(run_rebalance(deps(positions=held, candidates=(), store=store,
                                    executor=FakeExecutor()), dry_run=False, force=True))
    later = dataclasses.replace(deps(positions=held, candidates=(), store=store,
                                     executor=FakeExecutor()),
                                now=lambda: NOW + timedelta(minutes=11))
    due = run(run_rebalance(later, dry_run=False))

    assert first.next_check_minutes is not None and 5 <= first.next_check_minutes <= 10
    assert schedule is not None and schedule.last_run_at == NOW
    assert schedule.interval == timedelta(minutes=first.next_check_minutes)
    assert early.outcome is Outcome.NOTHING_TO_DO and early.inputs is None
    assert any(n.startswith("not due:") and "--force" in n for n in early.notes), early.notes
    assert forced.inputs is not None and due.inputs is not None
    assert read_schedule(store).last_run_at == NOW + timedelta(minutes=11)
    # A dry run neither reads nor moves the schedule.
    before = store.get(SCHEDULE_KEY)
    dry = run(run_rebalance(deps(positions=held, candidates=(), store=store), dry_run=True))
    assert dry.inputs is not None and store.get(SCHEDULE_KEY) == before
