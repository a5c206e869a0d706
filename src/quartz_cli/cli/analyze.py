"""`quartz analyze`: the technical state of tickers (RSI, MACD, Bollinger, SMAs, Fibonacci)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from quartz_cli.cli.context import config, console, emit, run, want_json

if TYPE_CHECKING:
    from rich.console import Console

    from quartz_cli.agents.technical import TechnicalAgent, TechnicalResult

app = typer.Typer()

PERIODS = {"D": ("D",), "W": ("W",), "M": ("M",), "ALL": ("D", "W", "M")}


def _fmt(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def _render(results: list[TechnicalResult], source: str) -> Callable[[Console], None]:
    def render(con: Console) -> None:
        from rich import box
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=f"technical analysis · {source}", title_justify="left",
                      box=box.SIMPLE_HEAD, show_lines=False)
        columns: tuple[tuple[str, Literal["left", "center", "right"]], ...] = (
            ("ticker", "left"), ("per", "center"), ("as of", "left"),
                          ("close", "right"), ("RSI", "right"), ("MACD h", "right"),
            ("%B", "right"))
        for col, just in columns:
            table.add_column(col, justify=just, no_wrap=True)
        table.add_column("signals", ratio=1, overflow="fold")
        notes: list[str] = []
        for r in results:
            label = f"{r.code}\n{escape(r.name)}".strip()
            if not r.ok:
                table.add_row(label, "", "", "", "", "", "",
                              f"[red]failed:[/] {escape(r.error or '')}")
                continue
            for per, a in r.periods.items():
                v, s = a.values, a.signals
                rsi = _fmt(v.rsi14, 1)
                if s.rsi == "overbought":
                    rsi = f"[red]{rsi}[/]"
                elif s.rsi == "oversold":
                    rsi = f"[green]{rsi}[/]"
                phrases = s.phrases()
                if a.insufficient:
                    phrases.append("[yellow]insufficient history: " + ", ".join(
                        f"{i.indicator} ({i.available}/{i.needed} bars)"
                        for i in a.insufficient) + "[/]")
                if a.data_issues.any:
                    notes.append(f"{r.code} {per}: {a.data_issues.describe()}")
                    phrases.append("[yellow]gaps skipped[/]")
                table.add_row(
                    label, per, a.as_of.strftime("%y-%m-%d"), f"{a.last_close:,}", rsi,
                    _fmt(v.macd_hist, 1),
                    "-" if s.percent_b is None else f"{s.percent_b:.2f}",
                    "\n".join([escape(p) for p in phrases if not p.startswith("[")]
                              + [p for p in phrases if p.startswith("[")]),
                )
                label = ""
            table.add_section()
        con.print(table)
        for note in notes:
            con.print(f"[yellow]note:[/] {escape(note)}")
        fib = [(r, a) for r in results if r.ok for a in r.periods.values() if a.fibonacci_levels]
        if fib:
            con.print("[dim]Fibonacci: 0% = swing high, 100% = swing low over "
                      + ", ".join(sorted({f"{a.fibonacci_lookback} {a.period.value} bars"
                                          for _, a in fib})) + "[/]")
    return render


@app.command()
def analyze(
    tickers: list[str] = typer.Argument(..., metavar="TICKER...",
                                        help="KRX codes, e.g. 005930 000660."),
    period: str = typer.Option("D", "--period", "-p", metavar="D|W|M|all",
                               help="Bar period: day, week, month, or all three."),
    chart: Path = typer.Option(None, "--chart", metavar="FILE.png",
                               help="Also draw price with bands and MAs, RSI and MACD panels."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore the 5-minute cache."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout."),
) -> None:
    """RSI(14), MACD(12,26,9), Bollinger(20,2), SMA 5/10/20 and Fibonacci levels per ticker,
    with readable signals. Results are cached 5 minutes and written to the store under
    technical/<TICKER>/. Exits 8 when some tickers failed and the others were analysed;
    when all failed, with their error's code (4 a malformed or unknown code, 5 the broker)."""
    from quartz_cli.agents.technical import TechnicalAgent, analyze_tickers
    from quartz_cli.app.runtime import open_runtime
    from quartz_cli.calendars import krx_calendar
    from quartz_cli.domain.bars import Period
    from quartz_cli.domain.krx import normalize_ticker
    from quartz_cli.errors import (
        BrokerError,
        InputError,
        PartialFailure,
        QuartzError,
        SourceError,
        StoreError,
    )

    key = period.strip().upper()
    if key not in PERIODS:
        raise InputError(f"--period {period!r}: choose D, W, M or all")
    periods = [Period(p) for p in PERIODS[key]]
    codes = list(dict.fromkeys(normalize_ticker(t) for t in tickers))
    if chart is not None and chart.suffix.lower() != ".png":
        raise InputError(f"--chart {chart}: the file must end in .png")
    cfg = config()

    async def go() -> tuple[list[TechnicalResult], TechnicalAgent]:
        from quartz_cli.app.runtime import technical_cache

        cache = None if no_cache else technical_cache(cfg)
        try:
            async with open_runtime(cfg, reads_via_owner=True) as rt:
                agent = TechnicalAgent(rt.market, rt.store, cfg.env.value, cache,
                                       krx_calendar(cfg.home / "cache"))
                now = cfg.market_now()
                if len(codes) < 3:
                    return await analyze_tickers(rt.market, rt.store, codes, periods, now,
                                                 agent=agent, want_chart=chart is not None), agent
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                )

                with Progress(TextColumn("analysing"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("{task.description}"), console=console(stderr=True),
                              transient=True) as progress:
                    task = progress.add_task("", total=len(codes))
                    results = await analyze_tickers(
                        rt.market, rt.store, codes, periods, now, agent=agent,
                        want_chart=chart is not None,
                        on_done=lambda r: progress.update(task, advance=1, description=r.code))
                return results, agent
        finally:
            if cache is not None:
                cache.close()

    results, agent = run(go)
    source = results[0].data_source if results else ""
    data: dict[str, Any] = {"data_source": source, "periods": [p.value for p in periods],
                            "results": [r.model_dump(mode="json") for r in results]}
    written = None
    if chart is not None:
        from quartz_cli.cli.technical_chart import draw

        drawn, left_out = draw(chart, results, agent.charts, [p.value for p in periods], source)
        data["chart"] = {"path": str(chart), "tickers": drawn,
                         "periods": [p.value for p in periods], "left_out": left_out}
        written = (f"chart written to {chart}: {', '.join(drawn)} "
                   f"({', '.join(p.value for p in periods)} bars)"
                   + "".join(f"; left out {code}: {why}" for code, why in left_out.items()))
    emit(data, _render(results, source), json_out)
    if written is not None:
        # With --json stdout holds the one document (which has the chart too).
        console(stderr=want_json(json_out)).print(written, markup=False, soft_wrap=True)
    failed = [r for r in results if not r.ok]
    if not failed:
        return
    message = (f"{len(failed)} of {len(results)} ticker(s) failed: "
               + ", ".join(f"{r.code} ({r.error})" for r in failed))
    if len(failed) < len(results):
        raise PartialFailure(message)
    # Nothing succeeded: the failure's own kind says what went wrong (4 an unknown ticker).
    kinds: dict[int | None, type[QuartzError]] = {
        InputError.exit_code: InputError, BrokerError.exit_code: BrokerError,
        StoreError.exit_code: StoreError, SourceError.exit_code: SourceError}
    raise kinds.get(failed[0].exit_code, QuartzError)(message)
