"""`quartz trade`: manual orders, the order list, and the trading agent's server.

Manual orders do not pass the portfolio risk gate; like every order they pass the account
owner's pre-trade stage (`domain/pretrade.py`: trading state, order window, listing, tick and
daily limits, cash and held quantity net of orders in flight, the weight cap, the day's
turnover) and the same idempotency ledger as the agent's orders. With `--server` (or
TRADING_AGENT_WS_URL) they go through a running `quartz trade serve`; otherwise this process
is the account's owner for the order, under the account's run lock. `halt`, `reduce-only`,
`resume` and `state` set and show the account's trading state."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from quartz_cli.cli import trade_history
from quartz_cli.cli.context import config, confirm, emit, print_json, run, want_json
from quartz_cli.cli.format import key_value_table
from quartz_cli.errors import BrokerError, InputError

if TYPE_CHECKING:
    from rich.console import Console

    from quartz_cli.domain.orders import Side

app = typer.Typer(help="Orders on KIS: buy, sell, cancel, list; serve the order WebSocket. "
                  "In prod every order needs QUARTZ_LIVE_TRADING=true and a confirmation "
                  "(or --yes).", no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")
SERVER_OPT = typer.Option(None, "--server", metavar="WS_URL",
                          help="Send through a trading server, e.g. ws://127.0.0.1:8005/ws/orders "
                          "(default: TRADING_AGENT_WS_URL; unset = execute in this process).")
YES_OPT = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation in prod.")
RID_OPT = typer.Option(None, "--request-id", help="Idempotency key (default: a new one). "
                       "Repeating an id returns the first outcome instead of ordering again.")


def _server(explicit: str | None) -> str | None:
    return explicit or config().settings.servers.trading_agent_ws_url


def _confirm(text: str, yes: bool, *, order: bool = True) -> None:
    """In prod: refuse without the live-trading opt-in, and a buy or sell outside the order
    window (before anyone is asked), else ask on stderr unless --yes (no is exit 9)."""
    from quartz_cli.config import Env
    from quartz_cli.errors import SafetyRefusal

    cfg = config()
    if cfg.env is not Env.PROD:
        return
    if not cfg.settings.broker.live_trading:
        raise SafetyRefusal("real-money orders are disabled",
                            hint="set QUARTZ_LIVE_TRADING=true to allow orders in prod")
    if order:
        from quartz_cli.calendars import krx_calendar
        from quartz_cli.domain.order_window import check_order_window

        window = check_order_window(cfg.market_now(), krx_calendar(cfg.home / "cache"))
        if not window.accepts_orders:
            raise SafetyRefusal(f"market closed: {window.detail}; nothing was sent")
    if not yes:
        confirm(f"REAL MONEY ({cfg.env.value}): {text}. Send?",
                refusal=f"not confirmed: {text} was not sent")


async def _submit(request: Any, server: str | None) -> tuple[Any, str]:
    """(the outcome, the account's trading state) through the server or this process's
    account owner; in-process, under the account's run lock so runs never interleave."""
    if server:
        from quartz_cli.app.internal_token import internal_token
        from quartz_cli.app.owner import trading_state_over_http
        from quartz_cli.app.runtime import trading_client

        async with trading_client(config(), server) as client:
            outcome = await client.submit(request)
        state = await trading_state_over_http(server, internal_token(config()))
        return outcome, state["state"]
    from quartz_cli.agents.owner import AccountOwner
    from quartz_cli.app.owner import account_states, run_lock
    from quartz_cli.app.ownership import owned_executor
    from quartz_cli.app.runtime import open_runtime
    from quartz_cli.domain.orders import action_word

    with run_lock(config(), f"trade {action_word(request.side)}"):
        async with open_runtime(config()) as rt, owned_executor(rt) as executor:
            outcome = await executor.submit(request)
            if outcome.booked:
                await executor.refresh()
                outcome = await executor.outcome(request.request_id) or outcome
            if isinstance(executor, AccountOwner):
                return outcome, executor.trading_status().state.value
    # Routed through the trading server that holds the lease: same host, same owner file.
    states = account_states(config())
    try:
        return outcome, states.trading_status().state.value
    finally:
        states.close()


def _render_outcome(data: dict[str, Any]) -> Callable[[Console], None]:
    def render(con: Console) -> None:
        colour = {"accepted": "green", "filled": "green", "reconciled": "green",
                  "cancelled": "yellow", "rejected": "red",
                  "expired": "red"}.get(data["state"], "magenta")
        rows = [("request_id", data["request_id"]),
                ("state", f"[{colour}]{data['state']}[/]"),
                ("action", data["action"]), ("ticker", data["ticker"] or "-"),
                ("qty", str(data["qty"])),
                ("type", data["order_type"] + (f" @ {data['price']:,} KRW"
                                               if data["order_type"] == "limit" else "")),
                ("order no.", data.get("order_no") or "-"),
                ("filled", f"{data['filled_qty']}"
                 + (f" @ {data['avg_fill_price']:,} KRW" if data.get("avg_fill_price") else "")),
                ("attempts", str(data["attempts"])),
                ("message", data.get("message") or "-"),
                ("environment", data.get("env") or "-")]
        if data.get("trading_state"):
            rows.append(("trading state", data["trading_state"]))
        con.print(key_value_table("order", rows))
    return render


def _finish(result: tuple[Any, str]) -> None:
    """Print the outcome (with --json, the one document); then raise the error that says
    why the order did not go, if it did not (the error mapping adds no second document)."""
    from quartz_cli.errors import QuartzError, SafetyRefusal

    outcome, trading_state = result
    data = outcome.model_dump(mode="json") | {"trading_state": trading_state}
    emit(data, _render_outcome(data))
    error: QuartzError | None = None
    if outcome.state.value == "rejected" and outcome.code == "pretrade:listing":
        # A ticker Quartz does not trade is bad input, whichever command names it.
        error = InputError(outcome.message)
    elif outcome.state.value == "rejected" and (outcome.code or "").startswith("pretrade:"):
        error = SafetyRefusal(outcome.message)
    elif outcome.state.value == "rejected":
        error = BrokerError(f"order {outcome.request_id} was rejected: {outcome.message}",
                            code=outcome.code)
    elif outcome.state.value == "expired":
        error = BrokerError(f"order {outcome.request_id} was not booked: {outcome.message}")
    elif not outcome.resolved:
        error = BrokerError(f"order {outcome.request_id} is {outcome.state.value}: the broker "
                            "may have booked it; it is never sent again",
                            hint="`quartz trade orders` (or this command with --request-id "
                            f"{outcome.request_id}) checks the broker's order inquiry; it "
                            "stays in flight until matched or its session is over")
    if error is not None:
        raise error


def _order(side: Side, ticker: str, qty: int, limit: int | None, request_id: str | None,
           yes: bool, server: str | None) -> None:
    from pydantic import ValidationError

    from quartz_cli.domain.orders import OrderRequest, action_word

    try:
        request = OrderRequest(
            request_id=request_id or f"cli-{uuid.uuid4().hex}", side=side, ticker=ticker,
            qty=qty, order_type="limit" if limit is not None else "market",
            price=limit or 0, timestamp=datetime.now(UTC))
    except ValidationError as err:
        raise InputError("; ".join(str(e["msg"]).removeprefix("Value error, ")
                                   for e in err.errors())) from None
    price = f"limit {limit:,} KRW" if limit else "market"
    what = f"{action_word(side)} {qty} x {request.ticker} {price}"
    _confirm(what, yes)
    _finish(run(lambda: _submit(request, _server(server))))


@app.command()
def buy(ticker: str = typer.Argument(..., help="KRX code, e.g. 005930."),
        qty: int = typer.Argument(..., help="Whole shares."),
        limit: int = typer.Option(None, "--limit", help="Limit price in KRW (on the tick "
                                  "grid); default a market order."),
        request_id: str = RID_OPT, yes: bool = YES_OPT, server: str = SERVER_OPT,
        json_out: bool = JSON_OPT) -> None:
    """Buy shares (a cash order: no margin)."""
    from quartz_cli.domain.orders import Side

    want_json(json_out)
    _order(Side.BUY, ticker, qty, limit, request_id, yes, server)


@app.command()
def sell(ticker: str = typer.Argument(..., help="KRX code, e.g. 005930."),
         qty: int = typer.Argument(..., help="Whole shares."),
         limit: int = typer.Option(None, "--limit", help="Limit price in KRW; default market."),
         request_id: str = RID_OPT, yes: bool = YES_OPT, server: str = SERVER_OPT,
         json_out: bool = JSON_OPT) -> None:
    """Sell shares (a cash order)."""
    from quartz_cli.domain.orders import Side

    want_json(json_out)
    _order(Side.SELL, ticker, qty, limit, request_id, yes, server)


@app.command()
def cancel(order_no: str = typer.Argument(..., help="The broker's order number."),
           qty: int = typer.Option(0, "--qty", help="Shares to cancel (0 = all unfilled); "
                                   "never negative."),
           request_id: str = RID_OPT, yes: bool = YES_OPT, server: str = SERVER_OPT,
           json_out: bool = JSON_OPT) -> None:
    """Cancel the unfilled part of an order."""
    from pydantic import ValidationError

    from quartz_cli.domain.orders import OrderRequest

    want_json(json_out)
    if qty < 0:
        raise InputError(f"--qty {qty}: give the number of shares to cancel, or 0 for the "
                         "whole unfilled remainder")
    try:
        request = OrderRequest(request_id=request_id or f"cli-{uuid.uuid4().hex}",
                               side=None, order_no=order_no.strip(), qty=qty,
                               timestamp=datetime.now(UTC))
    except ValidationError as err:
        raise InputError("; ".join(str(e["msg"]).removeprefix("Value error, ")
                                   for e in err.errors())) from None
    _confirm(f"cancel order {order_no}", yes, order=False)
    _finish(run(lambda: _submit(request, _server(server))))


def _render_orders(data: dict[str, Any]) -> Callable[[Console], None]:
    # The order number is what `trade cancel` takes: never cut or wrapped, whatever the width.
    number_width = max([len("order no.")] + [len(o.get("order_no") or "-")
                                              for o in data["orders"]])

    def render(con: Console) -> None:
        from rich import box
        from rich.table import Table

        if data["open"]:
            table = Table(title="open orders (cancellable)", title_justify="left")
            table.add_column("order no.", no_wrap=True, min_width=number_width)
            for col in ("ticker", "name", "side", "qty", "price", "filled", "cancellable",
                        "time"):
                table.add_column(col, overflow="fold")
            for o in data["orders"]:
                table.add_row(o["order_no"], o["ticker"], o["name"], o["side"], str(o["qty"]),
                              f"{o['price']:,}", str(o["filled_qty"]), str(o["cancelable_qty"]),
                              o["ordered_at"])
        else:
            table = Table(title="orders (newest first)", title_justify="left",
                          box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
            table.add_column("request_id", overflow="ellipsis", max_width=10, no_wrap=True)
            for col in ("state", "order", "ticker", "qty", "order no.", "filled", "avg"):
                right = col in ("qty", "filled", "avg")
                table.add_column(col, justify="right" if right else "left", no_wrap=True,
                                 min_width=number_width if col == "order no." else None)
            for o in data["orders"]:
                table.add_row(o["request_id"], o["state"], f"{o['action']} {o['order_type']}",
                              o["ticker"] or "-", str(o["qty"]), o.get("order_no") or "-",
                              str(o["filled_qty"]),
                              f"{o['avg_fill_price']:,}" if o.get("avg_fill_price") else "-")
        if not data["orders"]:
            con.print("no orders")
        else:
            con.print(table)
    return render


@app.command()
def orders(open_only: bool = typer.Option(False, "--open", help="Only orders with an "
                                          "unfilled remainder, from the broker."),
           limit: int = typer.Option(50, "--limit", help="How many recent requests."),
           server: str = SERVER_OPT, json_out: bool = JSON_OPT) -> None:
    """Recent order requests with their state and fills, refreshed from the broker: requests
    whose outcome is unknown are reconciled against the order inquiry first (matched, or
    expired once their session is over; never sent again). With --open the broker's
    cancellable orders."""
    srv = _server(server)

    async def listed(client: Any) -> list[dict[str, Any]]:
        if open_only:
            return [o.model_dump(mode="json") for o in await client.cancelable_orders()]
        return [o.model_dump(mode="json")
                for o in await client.orders(limit=limit, refresh=True)]

    async def go() -> list[dict[str, Any]]:
        if srv:
            from quartz_cli.app.runtime import trading_client

            async with trading_client(config(), srv) as client:
                return await listed(client)
        from quartz_cli.agents.owner import AccountOwner
        from quartz_cli.app.ownership import owned_executor
        from quartz_cli.app.runtime import open_runtime

        async with open_runtime(config()) as rt, owned_executor(rt) as agent:
            if not isinstance(agent, AccountOwner):
                # The trading server that owns the account answers instead.
                return await listed(agent)
            if open_only:
                return [o.model_dump(mode="json") for o in await agent.cancelable_orders()]
            await agent.refresh()
            return [o.model_dump(mode="json") for o in await agent.orders(limit=limit)]

    data = {"open": open_only, "orders": run(go)}
    emit(data, _render_orders(data), json_out)


app.command("history")(trade_history.history)


@app.command()
def balance(json_out: bool = JSON_OPT) -> None:
    """Cash, positions (average and current price, P/L) and total value."""
    from quartz_cli.app.runtime import open_runtime
    from quartz_cli.kis.account import inquire_balance

    async def go() -> dict[str, Any]:
        async with open_runtime(config()) as rt:
            return (await inquire_balance(rt.kis, rt.config.account())).model_dump(mode="json")

    data = run(go)

    def render(con: Console) -> None:
        from rich import box
        from rich.table import Table

        con.print(key_value_table("account", [
            ("cash", f"{data['cash_krw']:,} KRW"),
            ("cash D+2", f"{data['d2_cash_krw']:,} KRW (after today's trades settle)"),
            ("securities", f"{data['securities_value']:,} KRW"),
            ("total", f"{data['total_value']:,} KRW"),
            ("P/L", f"{data['pnl_total']:,} KRW")]))
        table = Table(title="positions", title_justify="left", box=box.SIMPLE_HEAD,
                      pad_edge=False, show_edge=False)
        table.add_column("ticker", no_wrap=True)
        table.add_column("name", overflow="ellipsis", max_width=12, no_wrap=True)
        for col in ("qty", "avg", "price", "value", "P/L", "P/L %"):
            table.add_column(col, justify="right", no_wrap=True)
        for p in data["positions"]:
            colour = "green" if p["pnl"] > 0 else "red" if p["pnl"] < 0 else "default"
            table.add_row(p["ticker"], p["name"], f"{p['qty']:,}",
                          f"{float(p['avg_price']):,.0f}", f"{p['current_price']:,}",
                          f"{p['value']:,}", f"[{colour}]{p['pnl']:,}[/]",
                          f"[{colour}]{float(p['pnl_pct']):+.2f}%[/]")
        con.print(table)

    emit(data, render, json_out)


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="Address to bind (0.0.0.0 in a pod)."),
          port: int = typer.Option(8005, help="TCP port."),
          retry_delay: float = typer.Option(1.0, help="Seconds between send attempts."),
          reconcile_delays: str = typer.Option("0,1,2", help="Seconds to wait before each "
                                               "order inquiry after an unknown outcome."),
          ping_interval: float = typer.Option(30.0, help="WebSocket ping interval (s)."),
          json_out: bool = JSON_OPT) -> None:
    """Serve the trading agent: WebSocket /ws/orders, HTTP /api/order, /api/cancel-order,
    /api/cancelable-orders, /health/live, /health/ready. Needs QUARTZ_INTERNAL_TOKEN
    (local creates one under $QUARTZ_HOME/trading/)."""
    import asyncio

    import uvicorn

    from quartz_cli.agents.trading import RetryPolicy
    from quartz_cli.app.events import serve_as_owner
    from quartz_cli.app.internal_token import internal_token
    from quartz_cli.app.metrics import refresh_gauges
    from quartz_cli.app.notices import fill_notices
    from quartz_cli.app.notify import serving_notifier
    from quartz_cli.app.owner import account_owner
    from quartz_cli.app.ownership import advertised_url, take_ownership
    from quartz_cli.app.runtime import open_runtime, trading_agent
    from quartz_cli.ports import LeaseKind, LeaseLost
    from quartz_cli.servers.guards import uvicorn_options
    from quartz_cli.servers.owner_events import event_routes
    from quartz_cli.servers.owner_reads import owner_reads
    from quartz_cli.servers.trading import create_app

    try:
        delays = tuple(float(x) for x in reconcile_delays.split(",") if x.strip())
    except ValueError:
        raise InputError("--reconcile-delays takes comma-separated seconds, e.g. 0,1,2") from None
    cfg = config()
    token = internal_token(cfg, create=True)
    # This process keeps the account's event log: its own events are never sent to itself.
    serve_as_owner()
    rt = open_runtime(cfg)
    # The account's lease for the server's lifetime: a second server refuses here.
    owner = take_ownership(cfg, rt.store, LeaseKind.SERVER, advertised_url(cfg, host, port))
    try:
        agent = trading_agent(rt, RetryPolicy(retry_delay_s=retry_delay,
                                              reconcile_delays_s=delays or (0.0,)))
        agent.ledger.fence(owner.holder.epoch)
        notices = fill_notices(rt, agent)
    except BaseException:
        owner.release()
        raise

    reads = owner_reads(rt)

    async def ready() -> None:
        # The owner's own state only: the probe never calls the broker.
        if owner.lost.is_set():
            raise LeaseLost("this server lost the account's lease: it no longer owns it")
        await reads.ready()

    async def shutdown() -> None:
        await asyncio.to_thread(owner.release)
        await rt.aclose()

    # Every order the server takes passes the account owner's pre-trade stage.
    app_ = create_app(account_owner(rt, agent=agent), token, ready_check=ready,
                      ping_interval_s=ping_interval, on_shutdown=shutdown, reads=reads,
                      notices=notices,
                      metrics_refresh=lambda: refresh_gauges(cfg, store=rt.store,
                                                             ledger=agent.ledger,
                                                             tokens=rt.tokens),
                      notifier=serving_notifier(cfg, rt.store))
    # The dashboard's live stream reads the account's event log here (servers/owner_events).
    app_.router.routes.extend(event_routes(cfg, token))
    url = f"ws://{host}:{port}/ws/orders"
    heard = "on" if notices is not None else "off (see quartz doctor)"
    if want_json(json_out):
        print_json({"env": cfg.env.value, "ws_url": url, "http_url": f"http://{host}:{port}",
                    "fill_notices": notices is not None})
    else:
        typer.echo(f"trading agent ({cfg.env.value}) on {url}; real-time fill notices {heard}",
                   err=True)
    try:
        uvicorn.run(app_, host=host, port=port, log_level="warning", ws_ping_interval=None,
                    **uvicorn_options())
    finally:
        owner.release()


def _trading_state(state: str | None, reason: str, server: str | None,
                   json_out: bool) -> None:
    """Set (or with `state` None, show) the account's trading state, at the server when one
    is named (or TRADING_AGENT_WS_URL is set), else in this host's owner file."""
    from quartz_cli.domain.pretrade import TradingState

    want_json(json_out)
    cfg = config()
    srv = _server(server)
    target = TradingState(state) if state else None
    if srv:
        from quartz_cli.app.internal_token import internal_token
        from quartz_cli.app.owner import trading_state_over_http

        data = run(lambda: trading_state_over_http(srv, internal_token(cfg), target, reason))
    else:
        from quartz_cli.app.owner import account_states
        from quartz_cli.servers.trading_admin import status_json

        states = account_states(cfg)
        try:
            if target is None:
                status = states.trading_status()
            else:
                status = states.set_trading_state(target, reason, cfg.market_now())
        finally:
            states.close()
        data = status_json(status)
    data = {"env": cfg.env.value, **data}

    def render(con: Console) -> None:
        colour = {"active": "green", "reduce_only": "yellow", "halted": "red"}[data["state"]]
        con.print(key_value_table("trading state", [
            ("state", f"[{colour}]{data['state']}[/]"), ("reason", data["reason"] or "-"),
            ("since", data["updated_at"] or "-"), ("environment", data["env"])]))

    emit(data, render, json_out)


REASON_OPT = typer.Option("", "--reason", help="Why (kept with the state).")


@app.command()
def halt(reason: str = REASON_OPT, server: str = SERVER_OPT, json_out: bool = JSON_OPT) -> None:
    """Stop all new orders on the account (cancels still pass); kept across restarts."""
    _trading_state("halted", reason or "halted by hand", server, json_out)


@app.command("reduce-only")
def reduce_only(reason: str = REASON_OPT, server: str = SERVER_OPT,
                json_out: bool = JSON_OPT) -> None:
    """Allow sells only (the daily loss limit sets this by itself)."""
    _trading_state("reduce_only", reason or "reduce-only by hand", server, json_out)


@app.command()
def resume(reason: str = REASON_OPT, server: str = SERVER_OPT, json_out: bool = JSON_OPT) -> None:
    """Allow buys and sells again."""
    _trading_state("active", reason or "resumed by hand", server, json_out)


@app.command()
def state(server: str = SERVER_OPT, json_out: bool = JSON_OPT) -> None:
    """Show the account's trading state: active, reduce_only or halted."""
    _trading_state(None, "", server, json_out)
