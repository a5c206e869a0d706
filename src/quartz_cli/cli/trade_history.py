"""`quartz trade history`: fills and realised P&L by day (see quartz_cli.app.dashboard)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import typer

from quartz_cli.cli.context import config, emit, run
from quartz_cli.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

#: The default window, in calendar days back from today.
DEFAULT_DAYS = 30
#: The longest window one command asks the broker for.
MAX_DAYS = 366


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{name} {text!r}: give a date as YYYY-MM-DD") from None


def history(
    start: str = typer.Option(None, "--from", metavar="YYYY-MM-DD",
                              help=f"First day (default: {DEFAULT_DAYS} days before --to)."),
    end: str = typer.Option(None, "--to", metavar="YYYY-MM-DD", help="Last day (default: "
                            "today, KST)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout."),
) -> None:
    """Fills and realised P&L by day, from the broker's daily orders (one inquiry) and the
    order ledger (request ids). Realised P&L counts sells against the average cost of buys
    inside the window; shares bought before it are reported as unmatched, never guessed."""
    from quartz_cli.app.dashboard import trade_history
    from quartz_cli.domain.krx import kst_date

    cfg = config()
    last = _day(end, "--to") or kst_date(cfg.market_now())
    first = _day(start, "--from") or last - timedelta(days=DEFAULT_DAYS)
    if first > last:
        raise InputError(f"--from {first} is after --to {last}")
    if (last - first).days > MAX_DAYS:
        raise InputError(f"{first} to {last} is over {MAX_DAYS} days: ask for a shorter window")
    data = run(lambda: trade_history(cfg, first, last))
    emit(data, lambda con: render_history(data, con), json_out)


def render_history(data: dict[str, Any], con: Console) -> None:
    """One table row per day, then the total."""
    from rich import box
    from rich.table import Table

    if not data["days"]:
        con.print(f"no fills from {data['from']} to {data['to']}")
        return
    table = Table(title=f"fills {data['from']} to {data['to']}", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("day", no_wrap=True)
    for col in ("fills", "bought", "sold", "realised P&L"):
        table.add_column(col, justify="right", no_wrap=True)
    for d in data["days"]:
        pnl = d["realised_pnl_krw"]
        tone = "green" if pnl > 0 else "red" if pnl < 0 else "default"
        table.add_row(d["day"], str(len(d["fills"])), f"{d['bought_krw']:,}",
                      f"{d['sold_krw']:,}", f"[{tone}]{pnl:+,}[/]")
    con.print(table)
    con.print(f"realised P&L: {data['realised_pnl_krw']:+,} KRW")
    if data["unmatched_sell_qty"]:
        con.print(f"{data['unmatched_sell_qty']} sold share(s) were bought before "
                  f"{data['from']}: their P&L is not counted")
