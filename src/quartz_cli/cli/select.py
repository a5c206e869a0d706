"""`quartz select`: candidates from the news (crawl, match tickers, sentiment, score)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from quartz_cli.cli.context import config, console, emit, run, want_json

if TYPE_CHECKING:
    from rich.console import Console

    from quartz_cli.agents.selection import SelectionResult

app = typer.Typer(
    help="Candidates from the news: crawl Naver Finance, Hankyung and Maeil Business, match "
    "articles to listed companies, rate sentiment (Gemini in batches, or the offline lexicon), "
    "and rank with final = tier·0.25 + sentiment·0.40 + news_count_norm·0.25 + priority·0.10. "
    "Bare `quartz select` runs a selection (same as `quartz select run`). In `local` the news "
    "is a bundled SYNTHETIC corpus served by in-process fake sites.",
    invoke_without_command=True,
)

JSON_OPT = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")
LIMIT_OPT = typer.Option(20, "--limit", "-n", min=1, max=500, help="How many candidates to keep.")
HOURS_OPT = typer.Option(24.0, "--hours", min=1, max=168,
                         help="Only articles published in the last N hours.")
WATCH_OPT = typer.Option(None, "--watch", "-w", metavar="CODE",
                         help="Watchlist ticker (priority component 1.0); repeatable.")

KOSPI_OPT = typer.Option(None, "--kospi", exists=True, dir_okay=False,
                         help="kospi_code.mst or kospi_code.mst.zip from KIS.")
KOSDAQ_OPT = typer.Option(None, "--kosdaq", exists=True, dir_okay=False,
                          help="kosdaq_code.mst or kosdaq_code.mst.zip from KIS.")


# fresh: crawled with news; stale: nothing new; unreachable: an outage; forbidden: robots.txt.
_STATE_COLOUR = {"fresh": "green", "stale": "yellow", "unreachable": "red",
                 "forbidden": "magenta", "failed": "red"}


def _render_candidates(data: dict[str, Any], title: str) -> Callable[[Console], None]:
    def render(con: Console) -> None:
        from datetime import datetime

        from rich import box
        from rich.markup import escape
        from rich.table import Table

        from quartz_cli.cli.format import kst

        produced = datetime.fromisoformat(data["produced_at"])
        con.print(f"[bold]{escape(title)}[/] · {kst(produced)} · env {data['env']} · "
                  f"sentiment {', '.join(data['sentiment_engines'])}")
        if data.get("stale_document"):
            con.print(f"  [yellow]stale:[/] crawled {data['age_hours']:.1f} h ago (inputs older "
                      f"than {data['max_age_hours']:g} h are stale)")
        for s in data["sources"]:
            colour = _STATE_COLOUR.get(s["status"], "red")
            extra = f" — {escape(s['error'])}" if s.get("error") else ""
            con.print(f"  [{colour}]{s['status']}[/] {s['source']}: {s['articles']} "
                      f"article(s){extra}")
        con.print(f"  {data['articles']} articles after removing {data['duplicates_dropped']} "
                  f"duplicate(s); {data['articles_matched']} name a listed company")
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for col, right in (("#", True), ("code", False), ("name", False), ("score", True),
                           ("tier", False), ("sent.", True), ("news", True),
                           ("prio.", True)):
            table.add_column(col, justify="right" if right else "left", no_wrap=True)
        for c in data["candidates"]:
            comp = c["components"]
            colour = "green" if comp["sentiment"] > 0 else "red" if comp["sentiment"] < 0 else ""
            sent = f"{comp['sentiment']:+.2f}"
            table.add_row(
                str(c["rank"]), c["code"], escape(c["name"]), f"{c['score']:.3f}",
                c["tier"],
                f"[{colour}]{sent}[/]" if colour else sent,
                f"{c['news_count']} ({comp['news_count_norm']:.2f})", f"{comp['priority']:.2f}")
        con.print(table)
        for c in data["candidates"]:
            for a in c["top_articles"][:1]:
                con.print(f"  {c['rank']:>2}. {escape(c['name'])}: {escape(a['title'])} "
                          f"[dim]({a['source']}; {escape(a['reason'])})[/]", soft_wrap=True)
        for note in data.get("notes", []):
            con.print(f"[dim]note: {escape(note)}[/]")
    return render


def _select(limit: int, hours: float, watch: list[str] | None, json_out: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from quartz_cli.agents.selection import run_selection
    from quartz_cli.app.selection import open_selection
    from quartz_cli.domain.krx import normalize_ticker

    cfg = config()
    watchlist = tuple(normalize_ticker(w) for w in (watch or []))
    json_mode = want_json(json_out)
    bar = Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[note]}"), console=console(stderr=True),
                   transient=True, disable=json_mode)
    tasks: dict[str, Any] = {}

    def progress(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total, note="")
        bar.update(tasks[name], completed=done, total=total)

    async def go() -> SelectionResult:
        async with open_selection(cfg) as rt:
            for name in rt.deps.news.names:
                progress(name, 0, 1)
            return await run_selection(rt.deps, now=cfg.market_now(), window_hours=hours,
                                       limit=limit, watchlist=watchlist, progress=progress)

    with bar:
        result = run(go)
    data = result.document.model_dump(mode="json")
    data["store_key"] = result.key
    data["fallback_file"] = str(result.fallback_path) if result.fallback_path else None
    data["uploaded_pending"] = result.uploaded_pending

    def render(con: Console) -> None:
        _render_candidates(data, "candidates")(con)
        if result.key:
            con.print(f"[dim]stored at {result.key}[/]")
        for key in result.uploaded_pending:
            con.print(f"[dim]uploaded a run kept locally earlier: {key}[/]")
        if result.fallback_path:
            con.print(f"[yellow]store unreachable ({result.store_error}); kept at "
                      f"{result.fallback_path}, uploaded on the next good run[/]")

    emit(data, render, json_out)
    for s in result.document.sources:
        if s.status == "stale":
            console(stderr=True).print(f"[yellow]warning:[/] news source {s.source} is stale: "
                                       f"it published nothing in the last {hours:g} h",
                                       soft_wrap=True)
        elif s.status != "fresh":
            console(stderr=True).print(f"[yellow]warning:[/] news source {s.source} is "
                                       f"{s.status.value} and was skipped: {s.error}",
                                       soft_wrap=True)


@app.callback()
def main(ctx: typer.Context, limit: int = LIMIT_OPT, hours: float = HOURS_OPT,
         watch: list[str] = WATCH_OPT, json_out: bool = JSON_OPT) -> None:
    """Run a selection when no sub-command is given."""
    if ctx.invoked_subcommand is None:
        _select(limit, hours, watch, json_out)


@app.command("run")
def run_cmd(limit: int = LIMIT_OPT, hours: float = HOURS_OPT, watch: list[str] = WATCH_OPT,
            json_out: bool = JSON_OPT) -> None:
    """Crawl the news, rate it and publish ranked candidates under `candidates/`."""
    _select(limit, hours, watch, json_out)


@app.command()
def show(json_out: bool = JSON_OPT) -> None:
    """Show the latest candidates (from the store, else the local fallback file)."""
    from quartz_cli.agents.selection import latest_candidates, newest_pending
    from quartz_cli.app.runtime import open_store
    from quartz_cli.errors import InputError, StoreError

    cfg = config()
    pending = cfg.home / "pending" / cfg.env.value / "candidates"
    source = "store"
    try:
        loaded = latest_candidates(open_store(cfg))
        doc = loaded.document if loaded else None
    except StoreError as exc:
        doc = newest_pending(pending)
        source = f"local fallback (store unreachable: {exc.message})"
        if doc is None:
            raise
    if doc is None:
        doc = newest_pending(pending)
        source = "local fallback"
    if doc is None:
        raise InputError("no candidates yet", hint="run `quartz select` first")
    data = doc.model_dump(mode="json")
    data["read_from"] = source
    # Sources fresh when crawled are stale once the document is older than decide accepts.
    from quartz_cli.domain.documents import utcnow

    max_age_h = cfg.settings.store.input_max_age_h
    age_h = (utcnow() - doc.produced_at).total_seconds() / 3600
    data |= {"age_hours": round(age_h, 2), "max_age_hours": max_age_h,
             "stale_document": age_h > max_age_h}
    if data["stale_document"]:
        for s in data["sources"]:
            if s["status"] == "fresh":
                s["status"] = "stale"
    emit(data, _render_candidates(data, f"latest candidates ({source})"), json_out)


@app.command()
def universe(
    kospi: Path = KOSPI_OPT,
    kosdaq: Path = KOSDAQ_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Refresh the selection universe from KIS stock master files: the ones you give, else
    both downloaded from KIS (from the simulator in `local`; QUARTZ_KIS_MASTER_URL names
    another host). Written to $QUARTZ_HOME/universe.csv, with each listing's index
    membership; aliases and sectors kept for known codes."""
    from quartz_cli.agents.selection import UNIVERSE_FILE
    from quartz_cli.domain.universe import INDEXES, bundled_universe
    from quartz_cli.kis.master import (
        MasterRecord,
        read_master,
        universe_from_master,
        write_universe_csv,
    )

    records: list[MasterRecord] = []
    if kospi is None and kosdaq is None:
        from quartz_cli.app.universe import download_masters

        records = run(lambda: download_masters(config()))
    if kospi is not None:
        records += read_master(kospi, "KOSPI")
    if kosdaq is not None:
        records += read_master(kosdaq, "KOSDAQ")
    uni = universe_from_master(records, bundled_universe())
    path = config().home / UNIVERSE_FILE
    from quartz_cli.app.universe import keep_delistings

    keep_delistings(config(), uni)
    write_universe_csv(uni, path)
    tiers = {t: sum(1 for x in uni.listings if x.tier.value == t)
             for t in ("LARGE", "MID", "SMALL")}
    indexes = {i: len(uni.members(i)) for i in INDEXES}
    data = {"path": str(path), "records": len(records), "listings": len(uni), "tiers": tiers,
            "indexes": indexes}
    emit(data, lambda con: con.print(
        f"universe: {len(uni)} listings from {len(records)} master records → {path} "
        f"(LARGE {tiers['LARGE']}, MID {tiers['MID']}, SMALL {tiers['SMALL']}; "
        + ", ".join(f"{i} {n}" for i, n in indexes.items()) + ")"), json_out)
