"""`quartz backtest`: replay the decision path over past sessions; `show ID` a stored run."""

from __future__ import annotations

from typing import Any

import typer

from quartz_cli.cli.context import config, console, emit

app = typer.Typer(help="Replay the decision path over past KRX sessions (no look-ahead, KRX "
                  "costs); reports and stores each run under backtests/.",
                  invoke_without_command=True)


def _pct(x: Any) -> str:
    return "—" if x is None else f"{x * 100:,.2f} %"


def _num(x: Any, digits: int = 2) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


ROWS = (("total return", "total_return", _pct), ("annualised (252)", "annual_return", _pct),
        ("volatility", "volatility", _pct), ("Sharpe", "sharpe", _num),
        ("Sortino", "sortino", _num), ("max drawdown", "max_drawdown", _pct),
        ("  its duration (sessions)", "max_drawdown_sessions", str),
        ("turnover (× mean value)", "turnover", _num), ("fees (KRW)", "fees_krw", "{:,}".format),
        ("sell tax (KRW)", "tax_krw", "{:,}".format), ("trades", "trades", str),
        ("round trips", "round_trips", str), ("win rate", "win_rate", _pct),
        ("average win (KRW)", "avg_win_krw", lambda x: _num(x, 0)),
        ("average loss (KRW)", "avg_loss_krw", lambda x: _num(x, 0)),
        ("exposure", "exposure", _pct),
        ("end value (KRW)", "end_value", "{:,}".format))


def render(doc: dict[str, Any], out: Any) -> None:
    """The run as an 80-column table."""
    from rich.table import Table

    s = doc["settings"]
    out.print(f"[bold]backtest {doc['id']}[/]  {s['from']} → {s['to']}  "
              f"{len(s['universe'])} ticker(s)  decide at {s['decision_time']} KST", soft_wrap=True)
    engines = ", ".join(f"{k} ×{v}" for k, v in doc["engines"].items())
    out.print(f"status: {doc['status']}; engines: {engines or 'none'}; "
              f"data: {doc.get('source', '')}", soft_wrap=True)
    perf, bench = doc["performance"], doc["benchmark"]["performance"]
    if perf is None:
        out.print("no session ran")
        return
    table = Table(width=80)
    table.add_column("figure")
    table.add_column("strategy", justify="right")
    table.add_column("benchmark", justify="right")
    for label, key, fmt in ROWS:
        b = bench.get(key) if key not in ("fees_krw", "tax_krw", "trades", "round_trips",
                                          "win_rate", "avg_win_krw", "avg_loss_krw",
                                          "turnover", "exposure") else None
        table.add_row(label, fmt(perf[key]) if perf[key] is not None else "—",
                      fmt(b) if b is not None else "—")
    out.print(table)
    out.print(f"benchmark: {doc['benchmark']['name']}", soft_wrap=True)
    if "SYNTHETIC" in str(doc.get("source", "")):
        out.print("[yellow]synthetic prices: these figures say nothing about real returns[/]")
    if doc.get("stored"):
        out.print(f"stored: {doc['stored']} (quartz backtest show {doc['id']})")


def chart_png(doc: dict[str, Any]) -> bytes | None:
    """Equity and drawdown against the benchmark, as PNG bytes (None without sessions)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from quartz_cli.domain.performance import drawdown

    days = doc["days"]
    if not days:
        return None
    x = [d["day"] for d in days]
    eq = [d["value_krw"] for d in days]
    bm = [d["benchmark_krw"] for d in days]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    top.plot(x, eq, label="strategy")
    top.plot(x, bm, label="equal-weight buy-and-hold")
    top.set_ylabel("value (KRW)")
    top.legend()
    top.set_title(f"backtest {doc['id']}")
    bottom.fill_between(x, [-d * 100 for d in drawdown(eq)], alpha=0.5,
                        label="strategy")
    bottom.plot(x, [-d * 100 for d in drawdown(bm)], label="benchmark")
    bottom.set_ylabel("drawdown %")
    bottom.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(8))
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


@app.callback()
def backtest(
    ctx: typer.Context,
    from_: str = typer.Option(None, "--from", metavar="YYYY-MM-DD", help="First session."),
    to: str = typer.Option(None, "--to", metavar="YYYY-MM-DD", help="Last session."),
    universe: str = typer.Option("bundled", help="`bundled`, `all` or comma-separated codes."),
    decision_time: str = typer.Option("15:30", help="KST decision time: before 09:00 (filled "
                                      "at that open) or from 15:30 (filled at the next open)."),
    cash: int = typer.Option(100_000_000, help="Starting cash, KRW."),
    engine: str = typer.Option("rules", help="`rules`, or `llm-replay`: the LLM answers "
                               "recorded by live runs, found by the hash of each day's prompt "
                               "(no model is called; a day without a record is decided by "
                               "the rules, and the report says so)."),
    chart: str = typer.Option(None, help="Also write the PNG chart to this path."),
    json_out: bool = typer.Option(False, "--json", help="The run's document as JSON."),
    resume: str = typer.Option(None, metavar="ID", help="Continue a stored run (an "
                               "interrupted one) from its last completed session; the other "
                               "options are taken from it."),
) -> None:
    """Run a backtest: for each KRX session from --from to --to, the same decision path as
    `quartz decide --dry-run` over the bars known at the decision time, the owner's
    pre-trade check, fills at the next open with KRX costs. Ctrl-C stops and reports the
    sessions done."""
    if ctx.invoked_subcommand is not None:
        return
    import asyncio
    from datetime import UTC, date, datetime, time

    from quartz_cli.agents.backtest import report_document, run_id, store_run
    from quartz_cli.app.backtest import default_settings, open_backtest
    from quartz_cli.cli.data import universe_codes
    from quartz_cli.errors import InputError

    cfg = config()
    if resume:
        from quartz_cli.agents.backtest import Settings, read_run
        from quartz_cli.app.runtime import open_store

        stored = read_run(open_store(cfg), resume)
        bt, source, store = open_backtest(cfg, Settings.from_dict(stored["settings"]))
        bt.restore(stored)
        run = resume
    else:
        if not from_ or not to:
            raise InputError("--from and --to are required (YYYY-MM-DD), or --resume ID")
        try:
            start, end = date.fromisoformat(from_), date.fromisoformat(to)
            at = time.fromisoformat(decision_time)
        except ValueError:
            raise InputError("--from/--to take YYYY-MM-DD and --decision-time HH:MM") from None
        settings = default_settings(cfg, start=start, end=end,
                                    universe=tuple(universe_codes(universe)),
                                    decision_time=at, cash=cash, engine=engine)
        bt, source, store = open_backtest(cfg, settings)
        run = run_id(settings, datetime.now(UTC))
    started = datetime.now(UTC)
    interrupted = False
    from rich.progress import Progress

    with Progress(console=console(stderr=True), transient=True) as progress:
        task = progress.add_task("sessions", total=len(bt.sessions), completed=len(bt.days))

        async def drive() -> None:
            for day in bt.remaining():
                progress.update(task, description=f"session {day}")
                await bt.step(day)
                progress.advance(task)

        try:
            asyncio.run(drive())
        except KeyboardInterrupt:
            interrupted = True
    doc = report_document(bt, run=run, produced_at=started,
                          interrupted=interrupted)
    doc["source"] = source
    png = chart_png(doc)
    doc["stored"] = store_run(store, doc, png)
    if chart and png:
        from pathlib import Path

        Path(chart).write_bytes(png)
    emit(doc, lambda out: render(doc, out), json_out)
    if interrupted:
        # The shell's convention for a run stopped by Ctrl-C; the partial report is out.
        raise typer.Exit(130)


@app.command()
def show(run: str = typer.Argument(..., help="The run's id."),
         json_out: bool = typer.Option(False, "--json", help="The stored document.")) -> None:
    """A stored run's report."""
    from quartz_cli.agents.backtest import read_run
    from quartz_cli.app.runtime import open_store

    doc = read_run(open_store(config()), run)
    emit(doc, lambda out: render(doc, out), json_out)
