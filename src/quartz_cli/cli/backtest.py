"""`quartz backtest`: replay the decision path over past sessions; `show ID` a stored run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from quartz_cli.cli.context import config, console, emit

if TYPE_CHECKING:
    from quartz_cli.domain.backtest_run import BacktestRun, RunSummary

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


BENCHMARK_KEYS = ("total_return", "annual_return", "volatility", "sharpe", "sortino",
                  "max_drawdown", "max_drawdown_sessions", "end_value")


def _cell(fmt: Any, value: Any) -> str:
    return "—" if value is None else str(fmt(value))


def render(run: BacktestRun, out: Any) -> None:
    """The run as an 80-column table."""
    from rich.table import Table

    s = run.settings
    out.print(f"[bold]backtest {run.id}[/]  {s.start} → {s.end}  "
              f"{len(s.universe)} ticker(s)  decide at {s.decision_time} KST", soft_wrap=True)
    engines = ", ".join(f"{k} ×{v}" for k, v in run.engines.items())
    out.print(f"status: {run.status}; engines: {engines or 'none'}; data: {run.source}",
              soft_wrap=True)
    if run.inputs.replayed or run.inputs.recomputed:
        out.print(f"inputs replayed: {', '.join(run.inputs.replayed) or 'none'}; "
                  f"recomputed: {', '.join(run.inputs.recomputed) or 'none'}", soft_wrap=True)
    replayed = []
    for d in run.days:
        kinds = [k for k in ("macro", "candidates") if getattr(d.inputs, k) == "replayed"]
        if kinds:
            replayed.append(f"{d.day} ({'+'.join(kinds)})")
    if replayed:
        more = f" and {len(replayed) - 8} more" if len(replayed) > 8 else ""
        out.print(f"replayed on: {', '.join(replayed[:8])}{more} (per day: --json)",
                  soft_wrap=True)
    perf, bench = run.performance, run.benchmark.performance
    if perf is None:
        out.print("no session ran")
        return
    table = Table(width=80)
    table.add_column("figure")
    table.add_column("strategy", justify="right")
    table.add_column("benchmark", justify="right")
    p, b = perf.to_dict(), bench.to_dict() if bench else {}
    for label, key, fmt in ROWS:
        table.add_row(label, _cell(fmt, p[key]),
                      _cell(fmt, b.get(key)) if key in BENCHMARK_KEYS else "—")
    out.print(table)
    out.print(f"benchmark: {run.benchmark.name}", soft_wrap=True)
    if "SYNTHETIC" in run.source:
        out.print("[yellow]synthetic prices: these figures say nothing about real returns[/]")
    if run.stored:
        out.print(f"stored: {run.stored} (quartz backtest show {run.id})")
    if not run.complete:
        out.print(f"[yellow]partial report: {run.status}[/]; continue with "
                  f"`quartz backtest --resume {run.id}`", soft_wrap=True)


def render_compare(a: BacktestRun, b: BacktestRun, out: Any) -> None:
    """Two runs' figures side by side (80 columns), with their benchmarks' returns."""
    from rich.table import Table

    for tag, r in (("A", a), ("B", b)):
        s = r.settings
        out.print(f"{tag}: {r.id}  {s.start} → {s.end}  {len(s.universe)} ticker(s)  "
                  f"{s.engine}  {r.status}", soft_wrap=True)
    table = Table(width=80)
    table.add_column("figure")
    table.add_column("A", justify="right")
    table.add_column("B", justify="right")
    pa = a.performance.to_dict() if a.performance else {}
    pb = b.performance.to_dict() if b.performance else {}
    for label, key, fmt in ROWS:
        table.add_row(label, _cell(fmt, pa.get(key)), _cell(fmt, pb.get(key)))
    ba, bb = a.benchmark.performance, b.benchmark.performance
    table.add_row("benchmark return", _pct(ba.total_return if ba else None),
                  _pct(bb.total_return if bb else None))
    out.print(table)
    if a.settings.start != b.settings.start or a.settings.end != b.settings.end:
        out.print("[yellow]the runs cover different ranges: compare their annualised "
                  "figures[/]")


def comparison(a: BacktestRun, b: BacktestRun) -> dict[str, Any]:
    """`compare --json`: both runs' settings and figures, and B − A per numeric figure."""
    pa = a.performance.to_dict() if a.performance else {}
    pb = b.performance.to_dict() if b.performance else {}
    diff = {k: pb[k] - pa[k] for k in pa
            if isinstance(pa.get(k), int | float) and isinstance(pb.get(k), int | float)}
    return {"runs": [{"id": r.id, "status": r.status,
                      "settings": r.settings.model_dump(mode="json"),
                      "performance": r.performance.to_dict() if r.performance else None,
                      "benchmark": r.benchmark.model_dump(mode="json")} for r in (a, b)],
            "difference": diff}


def render_list(runs: list[RunSummary], out: Any) -> None:
    """The stored runs, newest last."""
    from rich import box
    from rich.table import Table

    if not runs:
        out.print("no backtest stored yet (quartz backtest --from … --to …)")
        return
    # No vertical rules: a whole id (38 characters, what `show` takes) fits on one line.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("status", overflow="fold")
    table.add_column("n", justify="right")
    table.add_column("return", justify="right")
    table.add_column("bench", justify="right")
    table.add_column("Sharpe", justify="right")
    for r in runs:
        table.add_row(r.id, r.status.split(" (")[0], str(r.tickers), _pct(r.total_return),
                      _pct(r.benchmark_return), _num(r.sharpe))
    out.print(table)


def chart_png(run: BacktestRun) -> bytes | None:
    """Equity and drawdown against the benchmark, as PNG bytes (None without sessions)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from quartz_cli.domain.performance import drawdown

    days = run.days
    if not days:
        return None
    x = [d.day for d in days]
    eq = [d.value_krw for d in days]
    bm = [d.benchmark_krw for d in days]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    # One colour per series in both panes; values in millions of won, not 1e8 offsets.
    strategy, benchmark = "tab:blue", "tab:orange"
    top.plot(x, [v / 1e6 for v in eq], color=strategy, label="strategy")
    top.plot(x, [v / 1e6 for v in bm], color=benchmark, label=run.benchmark.name)
    top.set_ylabel("value (million KRW)")
    top.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.1f}"))
    top.legend(fontsize="small")
    top.set_title(f"backtest {run.id}")
    bottom.fill_between(x, [-d * 100 for d in drawdown(eq)], color=strategy, alpha=0.4,
                        label="strategy")
    bottom.plot(x, [-d * 100 for d in drawdown(bm)], color=benchmark, label="benchmark")
    bottom.set_ylabel("drawdown %")
    bottom.legend(fontsize="small", loc="lower left")
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
    universe: str = typer.Option("bundled", help="`bundled`, `all` (every listing known, the "
                                 "delisted included, each in the sessions it was listed), an "
                                 "index (`KOSPI200`…) or comma-separated codes."),
    decision_time: str = typer.Option("15:30", help="KST decision time: before 09:00 (filled "
                                      "at that open) or from 15:30 (filled at the next open)."),
    cash: int = typer.Option(100_000_000, help="Starting cash, KRW."),
    engine: str = typer.Option("rules", help="`rules`, or `llm-replay`: the LLM answers "
                               "recorded by live runs, found by the hash of each day's prompt "
                               "(no model is called; a day without a record is decided by "
                               "the rules, and the report says so)."),
    benchmark: str = typer.Option("kospi", help="`kospi` (KIS's index chart; the simulator's "
                                  "synthetic index in local; the equal-weight buy-and-hold, "
                                  "named with the reason, when it cannot be had) or "
                                  "`equal-weight` (buy-and-hold of the universe)."),
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
        from quartz_cli.agents.backtest import Settings
        from quartz_cli.app.backtest import load_run

        stored = load_run(cfg, resume)
        bt, source, store = open_backtest(cfg, Settings.of(stored.settings))
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
        if universe.strip().lower() == "all":
            from quartz_cli.app.backtest import known_listings

            # Every listing known, the delisted included: each stays in its past.
            codes = known_listings(cfg).codes()
        else:
            codes = universe_codes(universe)
        settings = default_settings(cfg, start=start, end=end, universe=tuple(codes),
                                    decision_time=at, cash=cash, engine=engine,
                                    benchmark=benchmark)
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
    doc = report_document(bt, run=run, produced_at=started, interrupted=interrupted,
                          env=cfg.env.value, source=source)
    png = chart_png(doc)
    store_run(store, doc, png)
    if chart and png:
        from pathlib import Path

        Path(chart).write_bytes(png)
    emit(doc.model_dump(mode="json"), lambda out: render(doc, out), json_out)
    if interrupted:
        # The shell's convention for a run stopped by Ctrl-C; the partial report is out.
        raise typer.Exit(130)


@app.command()
def show(run: str = typer.Argument(..., help="The run's id."),
         json_out: bool = typer.Option(False, "--json", help="The stored document.")) -> None:
    """A stored run's report."""
    from quartz_cli.app.backtest import load_run

    doc = load_run(config(), run)
    emit(doc.model_dump(mode="json"), lambda out: render(doc, out), json_out)


@app.command()
def compare(a: str = typer.Argument(..., help="The first run's id (A)."),
            b: str = typer.Argument(..., help="The second run's id (B)."),
            json_out: bool = typer.Option(False, "--json", help="Both runs' figures and "
                                          "B − A per figure.")) -> None:
    """Two stored runs' figures side by side."""
    from quartz_cli.app.backtest import load_run

    cfg = config()
    ra, rb = load_run(cfg, a), load_run(cfg, b)
    emit(comparison(ra, rb), lambda out: render_compare(ra, rb, out), json_out)


@app.command("list")
def list_(json_out: bool = typer.Option(False, "--json", help="The runs' summaries.")
          ) -> None:
    """The stored runs, oldest first."""
    from quartz_cli.app.backtest import stored_runs

    runs = stored_runs(config())
    emit([r.model_dump(mode="json") for r in runs], lambda out: render_list(runs, out),
         json_out)
