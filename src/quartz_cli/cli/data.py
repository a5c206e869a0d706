"""`quartz data`: the bar store (daily bars per ticker in the shared store, updated
incrementally): fill it ahead of time, show its coverage and freshness."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import typer

from quartz_cli.cli.context import config, console, emit, run

if TYPE_CHECKING:
    from rich.console import Console

    from quartz_cli.store.bars import Coverage

app = typer.Typer(help="Market data: daily bars kept in the store, updated incrementally.",
                  no_args_is_help=True)


def universe_codes(universe: str | None) -> list[str]:
    """`bundled` (the listings Quartz ships), `all` (the listings `quartz select universe`
    wrote from KIS's master files, else the bundled ones), an index of those (`KOSPI200`,
    `KOSPI100`, `KOSPI50`, `KOSDAQ150`) or comma-separated codes; None: the universe setting
    (QUARTZ_UNIVERSE), where `candidates` pulls every listing (any may become one)."""
    from quartz_cli.domain.krx import normalize_ticker
    from quartz_cli.domain.universe import INDEXES, chosen_codes

    if universe is None:
        from quartz_cli.agents.selection import selection_universe
        from quartz_cli.app.universe import universe_codes as chosen

        listings = selection_universe(config().home)
        return chosen(config(), listings) or listings.codes()
    word = universe.strip().replace(" ", "")
    if word.lower() == "bundled":
        from quartz_cli.domain.universe import bundled_universe

        return bundled_universe().codes()
    if word.lower() == "all" or word.upper() in INDEXES:
        from quartz_cli.agents.selection import selection_universe

        return chosen_codes(word, selection_universe(config().home)) or []
    return list(dict.fromkeys(normalize_ticker(c) for c in universe.split(",") if c.strip()))


@app.command()
def pull(
    universe: str = typer.Option(None, help="`all` (every listing: the master files' "
                                 "when `quartz select universe` was run), an index "
                                 "(KOSPI200, KOSPI100, KOSPI50, KOSDAQ150), `bundled` (the "
                                 "shipped listings) or comma-separated codes. Default: "
                                 "QUARTZ_UNIVERSE's listings (every one for `candidates`)."),
    from_: str = typer.Option(None, "--from", metavar="YYYY-MM-DD",
                              help="Keep history from this day (default: 400 days back)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout."),
) -> None:
    """Fetch the daily bars of every ticker up to the last completed session. Tickers already
    current cost no broker call, so an interrupted pull resumes where it stopped. Then
    applies the retention rule of technical history (QUARTZ_TECHNICAL_KEEP_DAYS). Exits 8
    when some tickers failed."""
    from quartz_cli.errors import InputError, PartialFailure

    codes = universe_codes(universe)
    if not codes:
        raise InputError("--universe names no ticker")
    try:
        since = date.fromisoformat(from_) if from_ else None
    except ValueError:
        raise InputError(f"--from {from_!r}: use YYYY-MM-DD") from None
    cfg = config()

    async def go() -> tuple[dict[str, str], dict[str, str], int]:
        import asyncio

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from quartz_cli.agents.technical import prune_technical
        from quartz_cli.app.bars import open_bar_store
        from quartz_cli.app.runtime import open_runtime

        failures: dict[str, str] = {}
        async with open_runtime(cfg, reads_via_owner=True) as rt:
            bars = open_bar_store(rt)
            with Progress(TextColumn("pulling bars"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.description}"), console=console(stderr=True),
                          transient=True) as progress:
                task = progress.add_task("", total=len(codes))

                def done(code: str, action: Any, message: str) -> None:
                    if message:
                        failures[code] = message
                    progress.update(task, advance=1, description=f"{code} {action.value}")

                result = await bars.pull(codes, since, on_done=done)
            pruned = await asyncio.to_thread(prune_technical, rt.store,
                                             cfg.settings.store.technical_keep_days,
                                             cfg.market_now())
        return {c: a.value for c, a in result.items()}, failures, pruned

    actions, failures, pruned = run(go)
    counts: dict[str, int] = {}
    for action in actions.values():
        counts[action] = counts.get(action, 0) + 1
    data = {"tickers": len(codes), "counts": counts, "failed": failures,
            "technical_copies_deleted": pruned}

    def render(out: Console) -> None:
        out.print(f"{len(codes)} ticker(s): "
                  + ", ".join(f"{n} {a}" for a, n in sorted(counts.items())))
        for code, message in failures.items():
            out.print(f"  {code}: {message}", soft_wrap=True)
        if pruned:
            out.print(f"{pruned} dated technical document(s) past "
                      f"{cfg.settings.store.technical_keep_days:g} days deleted")

    emit(data, render, json_out)
    if failures:
        err = PartialFailure(f"{len(failures)} of {len(codes)} ticker(s) failed")
        console(stderr=True).print(f"[bold red]error:[/] {err.message}")
        raise typer.Exit(err.exit_code)


@app.command()
def status(
    universe: str = typer.Option(None, help="Only these: `all`, `bundled` or comma-separated "
                                 "codes (default: every stored ticker)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout."),
) -> None:
    """Coverage and freshness of the stored bars: first and last session per ticker, and
    whether the last completed session is there. Makes no broker call."""
    from quartz_cli.app.runtime import open_store
    from quartz_cli.calendars import krx_calendar
    from quartz_cli.store.bars import StoredBars

    cfg = config()
    codes = universe_codes(universe) if universe else None
    store = open_store(cfg)
    bars = StoredBars(store, clock=cfg.market_now,
                      calendar=lambda: krx_calendar(cfg.home / "cache"))
    rows = bars.coverage(codes)
    last = bars.last_completed(cfg.market_now())
    data = {"store": store.description, "last_completed_session": last.isoformat(),
            "tickers": len(rows), "fresh": sum(r.fresh for r in rows),
            "coverage": [_row(r) for r in rows]}

    def render(out: Console) -> None:
        from rich.table import Table

        out.print(f"{data['fresh']} of {len(rows)} ticker(s) hold the last completed session "
                  f"({last}) in {store.description}")
        table = Table("ticker", "name", "first", "last", "bars", "fresh")
        for r in rows:
            table.add_row(r.code, r.name, str(r.first or "-"), str(r.last or "-"), str(r.bars),
                          "yes" if r.fresh else "[yellow]no[/]")
        out.print(table)

    emit(data, render, json_out)


def _row(r: Coverage) -> dict[str, Any]:
    return {"code": r.code, "name": r.name, "first": r.first.isoformat() if r.first else None,
            "last": r.last.isoformat() if r.last else None, "bars": r.bars, "fresh": r.fresh}
