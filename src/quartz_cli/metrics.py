"""Prometheus metrics: one registry per process, exported at `/metrics` by every long-running
server (`servers/metrics.py`).

Names follow the Prometheus conventions: the `quartz_` prefix, `_total` for counters,
`_seconds` for durations and times. Labels hold only small closed sets (a TR id, an outcome,
a rule, a role, a job name): never an order number, a request_id, a ticker list or a prompt.

`prometheus_client` is imported on first use, so commands that never touch a metric (help,
doctor) do not load it. Recording is cheap (a lock and an add): instrumented code records
unconditionally, whether or not anything scrapes."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Broker calls take 20 ms to a few seconds; orders are the ones that matter at the tail.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_lock = threading.Lock()


class Metrics:
    """Every metric Quartz records, on one registry (docs/operations.md lists them)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry: CollectorRegistry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.broker_requests: Counter = Counter(
            "quartz_broker_requests_total", "KIS REST calls by TR id and outcome "
            "(ok, rate_limited, token_rejected, rejected, unavailable)",
            ["tr_id", "outcome"], registry=r)
        self.broker_rate_refusals: Counter = Counter(
            "quartz_broker_rate_refusals_total", "KIS refusals for rate (EGW00201) by TR id",
            ["tr_id"], registry=r)
        self.broker_latency: Histogram = Histogram(
            "quartz_broker_request_duration_seconds", "KIS REST call latency by TR id",
            ["tr_id"], buckets=LATENCY_BUCKETS, registry=r)
        self.rate_budget_wait: Histogram = Histogram(
            "quartz_rate_budget_wait_seconds", "time a KIS call waited for a slot of the "
            "account's rate budget", buckets=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
            registry=r)
        self.orders: Counter = Counter(
            "quartz_orders_total", "order lifecycle events by outcome (requested, sent, "
            "accepted, filled, partially_filled, rejected, refused, unknown, ...)",
            ["outcome"], registry=r)
        self.risk_refusals: Counter = Counter(
            "quartz_risk_refusals_total", "orders refused by the pre-trade risk stage, by rule",
            ["rule"], registry=r)
        self.llm_tokens: Counter = Counter(
            "quartz_llm_tokens_total", "LLM tokens by role and kind (prompt, output)",
            ["role", "kind"], registry=r)
        self.llm_cost: Counter = Counter(
            "quartz_llm_cost_usd_total", "estimated LLM cost in US dollars by role",
            ["role"], registry=r)
        self.notifications: Counter = Counter(
            "quartz_notifications_total", "notification deliveries by channel and outcome "
            "(sent, failed, skipped)", ["channel", "outcome"], registry=r)
        # Read when scraped (`app.metrics.refresh_gauges`), not kept up to date in between.
        self.unknown_orders: Gauge = Gauge(
            "quartz_orders_unknown_in_flight", "orders whose outcome is unknown (sent, not yet "
            "reconciled): exposure counted at full size", registry=r)
        self.unknown_oldest: Gauge = Gauge(
            "quartz_orders_unknown_oldest_age_seconds", "age of the oldest unknown order "
            "(0 when there is none)", registry=r)
        self.token_expiry: Gauge = Gauge(
            "quartz_token_expiry_seconds", "seconds until the cached KIS access token expires "
            "(0 when there is none)", registry=r)
        self.document_age: Gauge = Gauge(
            "quartz_document_age_seconds", "age of each agent's latest document in the store",
            ["document"], registry=r)
        self.job_last_success: Gauge = Gauge(
            "quartz_job_last_success_timestamp_seconds", "Unix time of each job's last run "
            "that exited 0 (from the event log)", ["job"], registry=r)
        self.job_last_exit: Gauge = Gauge(
            "quartz_job_last_exit_code", "exit code of each job's last run", ["job"],
            registry=r)
        self.up: Gauge = Gauge("quartz_up", "1 while this Quartz server runs", ["server"],
                               registry=r)


_instance: Metrics | None = None


def metrics() -> Metrics:
    """The process's metrics (made on first use)."""
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = Metrics()
    return _instance


def broker_call(tr_id: str, outcome: str, seconds: float | None) -> None:
    """Count one KIS call and observe its latency (None: it never got an answer)."""
    m = metrics()
    m.broker_requests.labels(tr_id, outcome).inc()
    if outcome == "rate_limited":
        m.broker_rate_refusals.labels(tr_id).inc()
    if seconds is not None:
        m.broker_latency.labels(tr_id).observe(seconds)


def order_event(outcome: str, rule: str | None = None) -> None:
    """Count one order lifecycle event (`rule`: the risk rule that refused it)."""
    m = metrics()
    m.orders.labels(outcome).inc()
    if rule is not None:
        m.risk_refusals.labels(rule).inc()


def llm_usage(role: str, prompt_tokens: int, output_tokens: int, cost_usd: float) -> None:
    """Count one LLM call's tokens and estimated cost under its role."""
    m = metrics()
    m.llm_tokens.labels(role, "prompt").inc(prompt_tokens)
    m.llm_tokens.labels(role, "output").inc(output_tokens)
    m.llm_cost.labels(role).inc(cost_usd)


def exposition() -> tuple[bytes, str]:
    """The registry in the Prometheus text format, with its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(metrics().registry), CONTENT_TYPE_LATEST
