"""Composition root, metrics: the gauges read from the account's state when `/metrics` is
scraped (unknown orders, token expiry, document ages, jobs' last success)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from quartz_cli.domain.events import EventType
from quartz_cli.domain.orders import OrderState
from quartz_cli.errors import QuartzError
from quartz_cli.metrics import metrics

if TYPE_CHECKING:
    from quartz_cli.agents.auth import TokenManager
    from quartz_cli.config import Config
    from quartz_cli.ports import OrderLedger, Store

log = logging.getLogger(__name__)

# The prefixes whose latest document's age is exported (the agents' outputs).
DOCUMENTS = ("macro-analysis", "candidates", "technical", "decisions")
# How many job.finished events a scrape reads back to find each job's last run.
JOB_LOOKBACK = 500


def unknown_orders_gauge(ledger: OrderLedger, now: datetime | None = None) -> None:
    """Set the unknown-orders gauges from the ledger."""
    m = metrics()
    now = now or datetime.now(UTC)
    unknown = ledger.in_states(OrderState.UNKNOWN)
    m.unknown_orders.set(len(unknown))
    m.unknown_oldest.set(max((max(0.0, (now - e.updated_at).total_seconds())
                              for e in unknown), default=0.0))


def refresh_gauges(config: Config, *, store: Store | None = None,
                   ledger: OrderLedger | None = None, tokens: TokenManager | None = None,
                   now: datetime | None = None) -> None:
    """Set the scrape-time gauges from whichever of the sources this server has. A source
    that fails leaves its gauges as they were (and is logged): a scrape never fails."""
    m = metrics()
    now = now or datetime.now(UTC)
    try:
        if ledger is not None:
            unknown_orders_gauge(ledger, now)
        if tokens is not None:
            m.token_expiry.set(tokens.status().remaining_s or 0)
        if store is not None:
            _document_ages(store, now)
        _jobs(config)
    except (QuartzError, OSError) as exc:
        log.warning("metrics: could not read the account's state: %s", exc)


def _document_ages(store: Store, now: datetime) -> None:
    from quartz_cli.agents.documents import LatestPointer

    for prefix in DOCUMENTS:
        raw = store.get(f"{prefix}/latest.json")
        if raw is None:
            continue
        try:
            pointer = LatestPointer.model_validate_json(raw)
        except ValueError:
            continue
        metrics().document_age.labels(prefix).set(
            max(0.0, (now - pointer.produced_at).total_seconds()))


def _jobs(config: Config) -> None:
    from quartz_cli.app.events import event_log

    events = event_log(config)
    try:
        finished = events.of_type(EventType.JOB_FINISHED, limit=JOB_LOOKBACK)
    finally:
        events.close()
    m = metrics()
    for event in reversed(finished):  # oldest first: the last write per job wins
        job, code = str(event.data.get("job")), int(event.data.get("exit_code", 1))
        m.job_last_exit.labels(job).set(code)
        if code == 0:
            m.job_last_success.labels(job).set(event.at.timestamp())
