"""`quartz macro`: the macro view (ECOS, FRED, World Bank → statistics → report)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

import typer

from quartz_cli.cli.context import config, emit, run, want_json
from quartz_cli.cli.format import duration, kst

if TYPE_CHECKING:
    from rich.console import Console

    from quartz_cli.agents.macro import MacroRun
    from quartz_cli.domain.macro import MacroReport, MacroSummary

app = typer.Typer(help="Macro view: collect ECOS (Bank of Korea), FRED and World Bank series, "
                  "compute their statistics in the native core, and write a report with a "
                  "positive and a negative view, a ten-sentence summary and a market bias hint "
                  "(Gemini, or the deterministic rule engine in local / without "
                  "GEMINI_API_KEY). Stored under macro-analysis/ (latest.json = the summary).",
                  no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")
STATE_STYLE = {"fresh": "green", "partial": "yellow", "failed": "red"}
BIAS_STYLE = {"bullish": "green", "bearish": "red", "neutral": "cyan", "uncertain": "yellow"}


@app.command("run")
def run_cmd(
    json_out: bool = JSON_OPT,
    strict: bool = typer.Option(False, "--strict",
                                help="Exit 8 (partial failure) when any source failed."),
) -> None:
    """Collect every source (progress per source on stderr), analyse, write and publish.

    A failing source is marked failed and its earlier values are reused with their age;
    with no usable data at all the bias is `uncertain` and the exit code is 7."""
    from quartz_cli.app.macro import open_macro
    from quartz_cli.app.runtime import open_store
    from quartz_cli.errors import PartialFailure, SourceError

    cfg = config()
    store = open_store(cfg)

    async def go() -> MacroRun:
        async with open_macro(cfg, store) as agent:
            with _progress() as track:
                return await agent.run(track)

    result = run(go)
    data = _show_data(result.summary, result.summary_key, result.report, timedelta(0), False,
                      None)
    failed = result.summary.missing_sources
    # With --json, stdout carries one document: the error's, when nothing was usable.
    if result.usable or not want_json(json_out):
        emit(data, _render(data, full=False), json_out)
    if not result.usable:
        errors = "; ".join(f"{st.source}: {st.error}" for st in result.summary.sources
                           if st.error)
        raise SourceError("no macro source returned usable data and nothing earlier could be "
                          f"reused: published bias 'uncertain' ({errors})",
                          hint="see `quartz macro show --full`")
    if strict and failed:
        raise PartialFailure(f"macro sources failed: {', '.join(failed)} (report published)")


@app.command()
def show(
    full: bool = typer.Option(False, "--full", help="Also the statistics table, notes and "
                              "citations (with --json: the whole report, series included)."),
    json_out: bool = JSON_OPT,
) -> None:
    """Show the latest macro summary and both views (markdown rendered in the terminal),
    flagged when older than QUARTZ_MACRO_MAX_AGE_H (default 24 h)."""
    from quartz_cli.agents.documents import read_key
    from quartz_cli.agents.macro import load_summary
    from quartz_cli.app.runtime import open_store
    from quartz_cli.domain.macro import MacroReport
    from quartz_cli.errors import StoreError

    cfg = config()
    store = open_store(cfg)
    outlook = load_summary(store, max_age=timedelta(hours=cfg.settings.macro.max_age_h))
    if outlook.summary is None:
        raise StoreError(f"no macro summary in {store.description}",
                         hint="run `quartz macro run` first")
    report = None
    if outlook.summary.full_report_key:
        report = read_key(store, outlook.summary.full_report_key, MacroReport)
    data = _show_data(outlook.summary, outlook.key, report, outlook.age, outlook.stale,
                      outlook.note)
    if full and json_out and report is not None:
        data["report"] = report.model_dump(mode="json")
    emit(data, _render(data, full=full), json_out)


def _show_data(summary: MacroSummary, key: str | None, report: MacroReport | None,
               age: timedelta | None, stale: bool, note: str | None) -> dict[str, Any]:
    data = summary.model_dump(mode="json")
    data["summary_key"] = key
    data["summary_text"] = summary.summary_text
    data["age_hours"] = round(age.total_seconds() / 3600, 2) if age is not None else None
    data["stale"] = stale
    data["effective_bias"] = "uncertain" if stale else summary.market_bias_hint
    if note:
        data["note"] = note
    if report is not None:
        data["positive_view"] = report.view.positive_view
        data["negative_view"] = report.view.negative_view
        data["stats"] = [s.model_dump(mode="json") for s in report.stats]
        data["llm_usage"] = report.llm_usage.model_dump() if report.llm_usage else None
    return data


class _progress:
    """One rich progress line per source on stderr while the collectors run."""

    def __enter__(self) -> Callable[[str, str, str], None]:
        from rich.progress import Progress, SpinnerColumn, TextColumn

        from quartz_cli.cli.context import console

        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                             console=console(stderr=True), transient=False)
        self._tasks: dict[str, Any] = {}
        self._bar.__enter__()
        return self._track

    def _track(self, source: str, event: str, detail: str) -> None:
        from quartz_cli.domain.macro import SOURCE_TITLES

        title = SOURCE_TITLES.get(source, source)
        if event == "start":
            self._tasks[source] = self._bar.add_task(f"{title}: collecting", total=1)
            return
        mark = "[green]ok[/]" if event == "done" else "[red]failed[/]"
        self._bar.update(self._tasks[source], completed=1,
                         description=f"{title}: {mark} ({detail})")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bar.__exit__(exc_type, exc, tb)


def _fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def _num(v: float | None) -> str:
    """Compact numbers for narrow tables: 61.87M, 1,209.2k, 3.38."""
    if v is None:
        return "-"
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.2f}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:,.1f}k"
    return f"{v:,.3f}" if abs(v) < 1 else f"{v:,.2f}"


def _render(data: dict[str, Any], *, full: bool) -> Callable[[Console], None]:
    def render(con: Console) -> None:
        from datetime import datetime

        from rich.markdown import Markdown
        from rich.markup import escape
        from rich.panel import Panel
        from rich.table import Table

        bias = data["effective_bias"]
        said = "" if bias == data["market_bias_hint"] else \
            f" (stale; the summary said {data['market_bias_hint']})"
        head = (f"bias [bold {BIAS_STYLE[bias]}]{bias.upper()}[/]{said}   "
                f"engine {data['engine']}   "
                f"produced {kst(datetime.fromisoformat(data['produced_at']))}")
        if data.get("age_hours") is not None:
            head += f" ({duration(data['age_hours'] * 3600)} ago)"
        if data["sample_data"]:
            head += "\n[bold yellow]SAMPLE DATA[/]: synthetic series from the local fakes, " \
                    "not real statistics"
        if data["stale"]:
            head += f"\n[bold red]STALE[/]: {escape(data.get('note') or '')}"
        con.print(Panel(head, title="Macro view", title_align="left"))

        table = Table(title="Sources", title_justify="left")
        for col in ("source", "state", "fresh", "reused", "missing", "latest period", "error"):
            table.add_column(col)
        for st in data["sources"]:
            reused = str(len(st["reused_series"]))
            if st["reused_series"] and st.get("age_hours") is not None:
                reused += f" ({duration(st['age_hours'] * 3600)} old)"
            table.add_row(st["source"], f"[{STATE_STYLE[st['state']]}]{st['state']}[/]",
                          str(len(st["series"])), reused, str(len(st["missing_series"])),
                          st.get("latest_period") or "-", escape(st.get("error") or ""))
        con.print(table)

        con.print("\n[bold]Summary[/]")
        for i, sentence in enumerate(data["summary"], 1):
            con.print(f"{i:>2}. {escape(sentence)}", soft_wrap=True)
        for title, key in (("Positive view", "positive_view"), ("Negative view", "negative_view")):
            if data.get(key):
                con.print(f"\n[bold]{title}[/]")
                con.print(Markdown(data[key]))
        if not full:
            return
        from rich import box

        stats = Table(title="Statistics (MoM/YoY in % or pp; slope per period; "
                      "turn: pk = peak, tr = trough)",
                      title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("series", "period", "latest", "MoM", "YoY", "slope12", "z5y", "turn"):
            stats.add_column(col, justify="left" if col in ("series", "turn") else "right",
                             no_wrap=col != "series")
        for s in data.get("stats", []):
            turn = s["turning_points"][-1] if s["turning_points"] else None
            period = s["last_period"][:4] if s["frequency"] == "A" else s["last_period"][:7]
            stats.add_row(
                s["id"] + (" [yellow]R[/]" if s["reused"] else ""), period,
                _num(s["latest"]), _fmt(s["pop"]), _fmt(s["yoy"]), _num(s["slope_12"]),
                _fmt(s["zscore_5y"], 1),
                f"{'pk' if turn['kind'] == 'peak' else 'tr'} {turn['date'][:7]}" if turn else "-")
        con.print(stats)
        if data["engine_notes"]:
            con.print("\n[bold]Notes[/]")
            for n in data["engine_notes"]:
                con.print(f"- {escape(n)}", soft_wrap=True)
        if data.get("llm_usage"):
            u = data["llm_usage"]
            con.print(f"\nLLM usage: {u['model']}, {u['prompt_tokens']} prompt + "
                      f"{u['output_tokens']} output tokens, about ${u['cost_usd']:.4f}")
        con.print("\n[bold]Cited sources[/]")
        for c in data["cited_sources"]:
            con.print(f"- {escape(c['title'])} ({c['kind']}): {escape(c['uri'])}", soft_wrap=True)
    return render
