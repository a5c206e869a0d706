"""Composition root, dashboard: the account at a glance (`quartz status`, the web overview)
and the fills by day (`quartz trade history`), built from the broker's balance and daily
orders, the order ledger, the owner's state file and the agents' latest documents.

Read-only: nothing here sends, records or refreshes (the start-of-day value is read, never
recorded). The account number never appears; `account` is its keyed hash."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict

from quartz_cli.config import Config
from quartz_cli.domain.documents import Document
from quartz_cli.errors import QuartzError
from quartz_cli.redaction import redact

if TYPE_CHECKING:
    from quartz_cli.domain.orders import OrderOutcome

#: Each agent's latest document and how old it may be before it is called stale (the
#: schedules in cronjobs/: macro at 07:00 and 19:00, select and decide on trading days).
AGENT_DOCUMENTS: tuple[tuple[str, str, timedelta], ...] = (
    ("macro", "macro-analysis", timedelta(hours=13)),
    ("selection", "candidates", timedelta(hours=26)),
    ("portfolio", "decisions", timedelta(hours=26)),
)
#: The token is called nearly expired below this.
TOKEN_WARN = timedelta(hours=2)
MASKED_ACCOUNT = "********-**"


class AnyDocument(Document):
    """Any agent's document: the envelope, every other field kept as stored."""

    model_config = ConfigDict(extra="allow")


def _age(seconds: float) -> int:
    return max(0, int(seconds))


def agent_runs(config: Config, store: Any) -> list[dict[str, Any]]:
    """The last document of each agent: when, its age, stale or not, or the error reading it."""
    from quartz_cli.agents.documents import read_latest

    runs = []
    for agent, prefix, max_age in AGENT_DOCUMENTS:
        row: dict[str, Any] = {"agent": agent, "prefix": prefix,
                               "max_age_s": int(max_age.total_seconds())}
        try:
            loaded = read_latest(store, prefix, AnyDocument)
        except QuartzError as exc:
            runs.append(row | {"produced_at": None, "age_s": None, "stale": True,
                               "error": redact(exc.message)})
            continue
        if loaded is None:
            runs.append(row | {"produced_at": None, "age_s": None, "stale": True,
                               "error": None})
            continue
        runs.append(row | {"produced_at": loaded.document.produced_at.isoformat(),
                           "age_s": _age(loaded.age.total_seconds()),
                           "stale": loaded.is_stale(max_age), "from_copy": loaded.from_copy,
                           "error": None})
    return runs


def job_runs(config: Config, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each scheduled job's last run, from its job.started / job.finished events (the summary
    `quartz events jobs` prints: `app.events.job_summary`), against its schedule
    (`domain.schedules`): when it last fired (KST), and the state `ok`, `failed`, `running`,
    `missed` or `never run`. `now` defaults to the wall clock, which the events are
    stamped with."""
    from quartz_cli.app.live_events import open_live_events
    from quartz_cli.domain.schedules import JOB_SCHEDULES, job_state

    # In a cluster the log is the owner's (TRADING_AGENT_WS_URL), else this host's.
    log = open_live_events(config)
    try:
        last = {str(r["job"]): r for r in log.jobs()}
    except QuartzError as exc:
        # The owner does not answer: each scheduled job's state is unknown, and says why.
        return [{"job": name, "schedule": schedule, "last_scheduled_at": None,
                 "state": "unknown", "error": exc.message, "started_at": None,
                 "exit_code": None, "seconds": None, "last_success_at": None}
                for name, schedule in sorted(JOB_SCHEDULES.items())]
    finally:
        log.close()
    at = now or datetime.now(UTC)
    out = []
    for name in sorted(set(JOB_SCHEDULES) | set(last)):
        row = last.get(name, {})
        started = row.get("started_at")
        code = row.get("exit_code")
        exit_code = code if isinstance(code, int) else None
        schedule = JOB_SCHEDULES.get(name)
        if schedule is None:
            # A job run by hand under a name no schedule has: its last run, unscheduled.
            state = "running" if exit_code is None else "ok" if exit_code == 0 else "failed"
            fired = None
        else:
            state, fired = job_state(schedule, at, datetime.fromisoformat(str(started))
                                     if started else None, exit_code)
        out.append({"job": name, "schedule": schedule,
                    "last_scheduled_at": fired.isoformat() if fired else None,
                    "started_at": started, "exit_code": exit_code,
                    "seconds": row.get("seconds"),
                    "last_success_at": row.get("last_success_at"), "state": state})
    return out


def bars_freshness(config: Config, store: Any) -> dict[str, Any]:
    """How many stored tickers hold the last completed session (no broker call)."""
    from quartz_cli.calendars import krx_calendar
    from quartz_cli.store.bars import StoredBars

    bars = StoredBars(store, clock=config.market_now,
                      calendar=lambda: krx_calendar(config.home / "cache"))
    rows = bars.coverage()
    return {"last_completed_session": bars.last_completed(config.market_now()).isoformat(),
            "tickers": len(rows), "fresh": sum(r.fresh for r in rows)}


async def rate_budget(config: Config) -> dict[str, Any]:
    """The account owner's use of the account's REST limit over the last minute and the
    broker's rate refusals since it started (`GET /api/reads/rate-budget` on the trading
    agent); without a trading agent, a note: each command then paces its own calls."""
    url = config.settings.servers.trading_agent_ws_url
    if not url:
        return {"note": "no trading agent (TRADING_AGENT_WS_URL): each command paces its own "
                        "calls within the account's limit"}
    from quartz_cli.app.internal_token import internal_token
    from quartz_cli.remote.owner_reads_client import OwnerReadsClient

    try:
        client = OwnerReadsClient(url, internal_token(config), timeout_s=10.0)
        try:
            return await client.get("rate-budget")
        finally:
            await client.aclose()
    except QuartzError as exc:
        return {"error": exc.message}


async def token_state(config: Config) -> dict[str, Any]:
    """The KIS token's validity and expiry (never the token), without issuing one."""

    from quartz_cli.app.runtime import open_runtime

    async with open_runtime(config) as rt:
        token = (await asyncio.to_thread(rt.tokens.status)).to_dict()
    return {"valid": token["valid"], "expires_at": token["expires_at"],
            "remaining_s": token["remaining_s"]}


async def _trading_state(config: Config) -> dict[str, Any]:
    state, _ = await _owner_state(config)
    return state


async def _owner_state(config: Config) -> tuple[dict[str, Any], dict[date, int]]:
    """The trading state and the start-of-day values, from the account's owner: over the
    trading agent's API when one owns the account (in a cluster its file is on the agent's
    volume), else this host's owner file."""
    url = config.settings.servers.trading_agent_ws_url
    if url:
        from quartz_cli.app.internal_token import internal_token
        from quartz_cli.app.owner import trading_state_over_http

        doc = await trading_state_over_http(url, internal_token(config))
        starts = {date.fromisoformat(d): int(v)
                  for d, v in (doc.get("start_of_day") or {}).items()}
        return {"state": doc["state"], "reason": doc.get("reason") or "",
                "updated_at": doc.get("updated_at")}, starts
    from quartz_cli.app.owner import account_states

    states = account_states(config)
    try:
        status = states.trading_status()
        starts = states.recorded_start_of_day()
    finally:
        states.close()
    return {"state": status.state.value, "reason": status.reason,
            "updated_at": status.updated_at.isoformat() if status.updated_at else None}, starts


async def _owner_orders(config: Config, limit: int) -> list[OrderOutcome] | None:
    """The latest requests as the account's owner has them: over the trading agent's API
    when one owns the account (TRADING_AGENT_WS_URL, as in the cluster, where the ledger is
    on the agent's own volume), else None (read this host's ledger)."""
    url = config.settings.servers.trading_agent_ws_url
    if not url:
        return None
    from quartz_cli.app.internal_token import internal_token
    from quartz_cli.remote.trading_client import TradingClient

    async with TradingClient(url, internal_token(config), reply_timeout_s=10) as client:
        return await client.orders(limit=limit)


def _host_ledger_orders(config: Config, limit: int) -> list[OrderOutcome]:
    from quartz_cli.app.ownership import trading_dir
    from quartz_cli.store.order_ledger import SqliteOrderLedger

    ledger = SqliteOrderLedger(trading_dir(config) / f"{config.env.value}-ledger.db")
    try:
        return [e.outcome() for e in ledger.entries(limit=limit)]
    finally:
        ledger.close()


async def _ledger_orders(config: Config) -> dict[str, list[dict[str, Any]]]:
    """Requests in flight (received or sent) and unknown, from the account's owner."""
    from quartz_cli.domain.orders import OrderState

    outcomes = await _owner_orders(config, 500)
    if outcomes is None:
        outcomes = await asyncio.to_thread(_host_ledger_orders, config, 500)
    pending = (OrderState.RECEIVED, OrderState.SENT)
    return {"unknown": [o.model_dump(mode="json") for o in outcomes
                        if o.state is OrderState.UNKNOWN],
            "pending": [o.model_dump(mode="json") for o in outcomes if o.state in pending]}


async def overview(config: Config) -> dict[str, Any]:
    """Everything `quartz status` shows, as one JSON-ready dict (see docs/dashboard.md)."""

    from quartz_cli.app.owner import account_hash
    from quartz_cli.app.runtime import open_runtime
    from quartz_cli.domain.krx import kst_date
    from quartz_cli.kis.account import inquire_balance, unfilled_orders

    now = config.market_now()
    today = kst_date(now)
    async with open_runtime(config) as rt:
        balance = await inquire_balance(rt.kis, config.account())
        open_orders = await unfilled_orders(rt.kis, config.account(), today)
        token = (await asyncio.to_thread(rt.tokens.status)).to_dict()
        store = rt.store
        runs = await asyncio.to_thread(agent_runs, config, store)
        bars = await asyncio.to_thread(bars_freshness, config, store)
    trading, starts = await _owner_state(config)
    ledger = await _ledger_orders(config)
    total = balance.total_value
    today_start = starts.get(today)
    first = min(starts) if starts else None
    data: dict[str, Any] = {
        "env": config.env.value, "as_of": now.isoformat(), "account": MASKED_ACCOUNT,
        "account_id": account_hash(config),
        "total_value_krw": total, "cash_krw": balance.cash_krw,
        "d2_cash_krw": balance.d2_cash_krw, "securities_krw": balance.securities_value,
        "unrealised_pnl_krw": balance.pnl_total,
        "today": {"start_value_krw": today_start,
                  "pnl_krw": None if today_start is None else total - today_start},
        "since_start": {"day": first.isoformat() if first else None,
                        "start_value_krw": starts[first] if first else None,
                        "pnl_krw": total - starts[first] if first else None},
        "positions": [_position(p, total) for p in balance.positions],
        "trading_state": trading,
        "open_orders": [o.model_dump(mode="json") for o in open_orders],
        "unknown_orders": ledger["unknown"], "pending_orders": ledger["pending"],
        "agents": runs, "jobs": await asyncio.to_thread(job_runs, config), "bars": bars,
        "token": {"valid": token["valid"], "expires_at": token["expires_at"],
                  "remaining_s": token["remaining_s"]},
    }
    data["warnings"] = warnings(data)
    return data


def _position(p: Any, total: int) -> dict[str, Any]:
    weight = round(p.value / total, 4) if total > 0 else 0.0
    return {"ticker": p.ticker, "name": p.name, "qty": p.qty, "avg_price": str(p.avg_price),
            "current_price": p.current_price, "value_krw": p.value, "weight": weight,
            "pnl_krw": p.pnl, "pnl_pct": str(p.pnl_pct)}


def warnings(data: dict[str, Any]) -> list[str]:
    """What an operator should look at, one short line each (empty when all is well)."""
    out = []
    state = data["trading_state"]["state"]
    if state != "active":
        out.append(f"trading is {state}" + (f": {data['trading_state']['reason']}"
                                             if data["trading_state"]["reason"] else ""))
    if data["unknown_orders"]:
        out.append(f"{len(data['unknown_orders'])} order(s) with an unknown outcome: "
                   "`quartz trade orders` reconciles them")
    for run in data["agents"]:
        if run["error"]:
            out.append(f"{run['agent']}: {run['error']}")
        elif run["produced_at"] is None:
            out.append(f"{run['agent']}: no document yet")
        elif run["stale"]:
            out.append(f"{run['agent']}: last document is stale")
    for job in data["jobs"]:
        if job["state"] == "missed":
            fired = datetime.fromisoformat(job["last_scheduled_at"])
            out.append(f"job {job['job']}: missed its {fired:%m-%d %H:%M} KST run")
        elif job["state"] == "failed":
            out.append(f"job {job['job']}: last run failed (exit {job['exit_code']})")
    if unknown := [j for j in data["jobs"] if j["state"] == "unknown"]:
        out.append(f"jobs: last runs unknown ({unknown[0].get('error')})")
    bars = data["bars"]
    if bars["tickers"] and bars["fresh"] < bars["tickers"]:
        out.append(f"bars: {bars['tickers'] - bars['fresh']} of {bars['tickers']} ticker(s) "
                   f"miss {bars['last_completed_session']} (`quartz data pull`)")
    token = data["token"]
    if not token["valid"]:
        out.append("no valid KIS token cached (`quartz auth token`)")
    elif token["remaining_s"] is not None and token["remaining_s"] < TOKEN_WARN.total_seconds():
        out.append("the KIS token expires within 2 h")
    if data["today"]["start_value_krw"] is None:
        out.append("today's P&L unknown: no start-of-day value recorded yet (the owner "
                   "records it at the day's first order)")
    return out


async def trade_history(config: Config, start: date, end: date) -> dict[str, Any]:
    """Fills and realised P&L by day from `start` to `end` (KST days), from the broker's
    daily order inquiry, with the ledger's request id where the ledger knows the order."""
    from quartz_cli.app.ownership import trading_dir
    from quartz_cli.app.runtime import open_runtime
    from quartz_cli.domain.trade_history import fills_by_day
    from quartz_cli.kis.account import inquire_daily_orders
    from quartz_cli.store.order_ledger import SqliteOrderLedger

    async with open_runtime(config) as rt:
        reports = await inquire_daily_orders(rt.kis, config.account(), start, end)
    days = fills_by_day(reports)
    ledger = SqliteOrderLedger(trading_dir(config) / f"{config.env.value}-ledger.db")
    try:
        for day in days:
            for fill in day.fills:
                entry = ledger.by_order_no(str(fill["order_no"]))
                fill["request_id"] = entry.request.request_id if entry else None
    finally:
        ledger.close()
    return {"env": config.env.value, "from": start.isoformat(), "to": end.isoformat(),
            "days": [d.to_dict() for d in days],
            "realised_pnl_krw": sum(d.realised_pnl_krw for d in days),
            "unmatched_sell_qty": sum(d.unmatched_sell_qty for d in days),
            "as_of": config.market_now().isoformat()}


async def set_trading_state(config: Config, state: str, reason: str) -> dict[str, Any]:
    """Set the account's trading state at its owner: the trading server when
    TRADING_AGENT_WS_URL is set (`/api/trading-state`), else this host's owner file."""
    from quartz_cli.domain.pretrade import TradingState

    target = TradingState(state)
    url = config.settings.servers.trading_agent_ws_url
    if url:
        from quartz_cli.app.internal_token import internal_token
        from quartz_cli.app.owner import trading_state_over_http

        doc = await trading_state_over_http(url, internal_token(config), target, reason)
        return {"state": doc["state"], "reason": doc.get("reason") or "",
                "updated_at": doc.get("updated_at")}
    from quartz_cli.app.owner import account_states

    states = account_states(config)
    try:
        status = states.set_trading_state(target, reason, config.market_now())
    finally:
        states.close()
    return {"state": status.state.value, "reason": status.reason,
            "updated_at": status.updated_at.isoformat() if status.updated_at else None}


def recent_orders(config: Config, limit: int) -> dict[str, Any]:
    """The ledger's latest requests with their lifecycle, newest first, and `last_seq`: the
    event log's newest sequence number, read before the ledger, so a page that follows the
    live stream from it misses nothing (an event it already saw applies again harmlessly)."""
    from quartz_cli.app.live_events import last_event_seq

    last_seq = last_event_seq(config)
    outcomes = asyncio.run(_owner_orders(config, limit))
    if outcomes is None:
        outcomes = _host_ledger_orders(config, limit)
    return {"orders": [o.model_dump(mode="json") for o in outcomes], "last_seq": last_seq}


#: Calendar days of history each chart period asks for.
CHART_SPAN_DAYS = {"D": 400, "W": 3 * 365, "M": 10 * 365}


async def technical_chart(config: Config, ticker: str, period: str) -> dict[str, Any]:
    """Bars of `ticker` for `period` (D, W, M) with moving averages, Bollinger bands, RSI,
    MACD and the Fibonacci levels of the last swing: the data of the Technical page. Bars
    come through the bar store (stored, updated incrementally)."""
    import math

    import numpy as np

    from quartz_cli.app.bars import open_bar_store
    from quartz_cli.app.runtime import open_runtime
    from quartz_cli.domain.bars import Period
    from quartz_cli.domain.krx import kst_date, normalize_ticker
    from quartz_cli.errors import InputError
    from quartz_cli.indicators import reference
    from quartz_cli.indicators.fibonacci import retracement_levels
    from quartz_cli.indicators.spec import SWING_LOOKBACK

    code = normalize_ticker(ticker)
    try:
        which = Period(period)
    except ValueError:
        raise InputError(f"period {period!r}: choose D, W or M") from None
    end = kst_date(config.market_now())
    async with open_runtime(config) as rt:
        series = await open_bar_store(rt).daily_bars(
            code, end - timedelta(days=CHART_SPAN_DAYS[which.value]), end, which)
    bars = series.bars
    close = np.array([b.close for b in bars], dtype=float)
    high = np.array([b.high for b in bars], dtype=float)
    low = np.array([b.low for b in bars], dtype=float)
    lines = reference.technical(close, high, low, swing_lookback=SWING_LOOKBACK) if bars else {}

    def clean(values: Any) -> list[float | None]:
        return [None if math.isnan(v) else round(float(v), 4) for v in values]

    fib: dict[str, float] = {}
    if bars:
        window = bars[-SWING_LOOKBACK:]
        fib = retracement_levels(max(b.high for b in window), min(b.low for b in window))
    return {"ticker": code, "name": series.name, "period": which.value,
            "bars": [{"time": b.day.isoformat(), "open": b.open, "high": b.high, "low": b.low,
                      "close": b.close, "volume": b.volume} for b in bars],
            "indicators": {name: clean(values) for name, values in lines.items()
                           if name not in ("swing_high", "swing_low")},
            "fibonacci": fib}


#: The stored backtests' folder in the store (`agents/backtest.py` writes `<id>/run.json`).
BACKTESTS = "backtests"
#: A stored run's id: letters, digits, dot, dash, underscore (never a path).
_RUN_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"


def stored_backtests(store: Any, run: str | None = None) -> dict[str, Any] | None:
    """The stored backtest runs for the Backtests page: without `run`, their ids, newest
    first; with it, that run's status, settings, metrics (`performance`), its benchmark's
    and the daily equity and drawdown of both, or None if no such run is stored. Reads the
    stored JSON's documented keys (docs/backtest.md), whatever type the backtest agent
    reads it into."""
    import json
    import re

    from quartz_cli.domain.performance import drawdown
    from quartz_cli.errors import InputError

    if run is None:
        ids = {k.split("/")[1] for k in store.list(f"{BACKTESTS}/") if k.endswith("/run.json")}
        return {"runs": sorted(ids, reverse=True)}
    if not re.fullmatch(_RUN_ID, run):
        raise InputError(f"{run!r} is not a backtest id")
    raw = store.get(f"{BACKTESTS}/{run}/run.json")
    if raw is None:
        return None
    doc = json.loads(raw)
    days = doc.get("days") or []
    equity = [int(d["value_krw"]) for d in days]
    bench = [int(d["benchmark_krw"]) for d in days]
    settings = doc.get("settings") or {}
    return {
        "id": doc["id"], "produced_at": doc.get("produced_at"), "status": doc.get("status"),
        "source": doc.get("source"),
        "settings": {k: settings.get(k) for k in ("from", "to", "universe", "cash_krw",
                                                  "engine", "decision_time")},
        "metrics": doc.get("performance"),
        "benchmark": {"name": (doc.get("benchmark") or {}).get("name"),
                      "metrics": (doc.get("benchmark") or {}).get("performance")},
        "curve": [{"day": d["day"], "value_krw": v, "benchmark_krw": b, "drawdown": round(dd, 6),
                   "benchmark_drawdown": round(bd, 6)}
                  for d, v, b, dd, bd in zip(days, equity, bench, drawdown(equity),
                                             drawdown(bench), strict=True)],
    }
