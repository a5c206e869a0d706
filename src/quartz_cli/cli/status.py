"""`quartz status`: the account and the agents on one 80-column screen (see docs/dashboard.md
for the `--json` document). Reads only: sends nothing, records nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from quartz_cli.cli.context import config, emit, run

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(add_completion=False)

#: The overview fits a classic terminal.
WIDTH = 80


def _won(value: int | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return (f"{value:+,}" if signed else f"{value:,}") + " KRW"


def render_status(data: dict[str, Any], con: Console) -> None:
    """The overview on at most 80 columns: account, P&L, state, orders, agents, warnings."""
    from rich import box
    from rich.table import Table

    from quartz_cli.cli.format import duration, key_value_table

    colour = {"active": "green", "reduce_only": "yellow", "halted": "red"}[
        data["trading_state"]["state"]]
    con.print(key_value_table(f"Quartz {data['env']} · account {data['account']}", [
        ("total value", _won(data["total_value_krw"])),
        ("cash", f"{_won(data['cash_krw'])} (D+2 {_won(data['d2_cash_krw'])})"),
        ("today's P&L", _won(data["today"]["pnl_krw"], signed=True)),
        ("since start", _won(data["since_start"]["pnl_krw"], signed=True)
         + (f" (since {data['since_start']['day']})" if data["since_start"]["day"] else "")),
        ("trading", f"[{colour}]{data['trading_state']['state']}[/]"),
        ("orders", f"{len(data['open_orders'])} open, {len(data['unknown_orders'])} unknown, "
                   f"{len(data['pending_orders'])} pending"),
        ("bars", f"{data['bars']['fresh']}/{data['bars']['tickers']} fresh "
                 f"({data['bars']['last_completed_session']})"),
        ("token", "valid, " + duration(data["token"]["remaining_s"]) + " left"
         if data["token"]["valid"] else "[yellow]none[/]")]))
    if data["positions"]:
        table = Table(title="positions", title_justify="left", box=box.SIMPLE_HEAD,
                      pad_edge=False, show_edge=False)
        table.add_column("ticker", no_wrap=True)
        table.add_column("name", overflow="ellipsis", max_width=10, no_wrap=True)
        for col in ("qty", "value", "weight", "P/L", "P/L %"):
            table.add_column(col, justify="right", no_wrap=True)
        for p in data["positions"]:
            tone = "green" if p["pnl_krw"] > 0 else "red" if p["pnl_krw"] < 0 else "default"
            table.add_row(p["ticker"], p["name"], f"{p['qty']:,}", f"{p['value_krw']:,}",
                          f"{p['weight'] * 100:.1f}%", f"[{tone}]{p['pnl_krw']:+,}[/]",
                          f"[{tone}]{float(p['pnl_pct']):+.2f}%[/]")
        con.print(table)
    agents = Table(title="agents (last document)", title_justify="left", box=box.SIMPLE_HEAD,
                   pad_edge=False, show_edge=False)
    for col in ("agent", "produced", "age", "state"):
        agents.add_column(col, no_wrap=True)
    for r in data["agents"]:
        state = ("[red]error[/]" if r["error"] else "[yellow]none[/]"
                 if r["produced_at"] is None else "[yellow]stale[/]" if r["stale"]
                 else "[green]fresh[/]")
        agents.add_row(r["agent"], (r["produced_at"] or "-")[:19].replace("T", " "),
                       duration(r["age_s"]), state)
    con.print(agents)
    for w in data["warnings"]:
        con.print(f"[yellow]![/] {w}", overflow="fold")


@app.command()
def status(json_out: bool = typer.Option(False, "--json",
                                         help="The overview as one JSON document.")) -> None:
    """The account at a glance: value, cash, today's and since-start P&L, positions, the
    trading state, open and unknown orders, each agent's last document and its age, bar
    freshness, the token, and warnings. One broker balance and order inquiry; sends nothing."""
    from quartz_cli.app.dashboard import overview
    from quartz_cli.cli.context import console

    cfg = config()
    data = run(lambda: overview(cfg))

    def render(_: Console) -> None:
        con = console()
        con.width = min(con.width, WIDTH)
        render_status(data, con)

    emit(data, render, json_out)
