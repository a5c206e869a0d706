"""`quartz doctor`: every setting with its value and source (secrets masked), and live
checks of the broker and the store."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from quartz_cli.cli.context import config, emit, run

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer()

MASKED = "set (masked)"


def _shown(value: Any, secret: bool) -> Any:
    """A setting's value as doctor shows it: JSON-ready, a secret never in clear."""
    if value is None:
        return None
    if secret:
        return MASKED
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def settings_report(cfg: Any) -> list[dict[str, Any]]:
    """One entry per setting of the tree: key, section, value (masked), source, meaning."""
    from quartz_cli.config import setting_specs

    return [{"key": spec.key, "section": spec.section,
             "value": _shown(cfg.settings.value(spec), spec.secret),
             "source": cfg.source(spec.key).value, "secret": spec.secret,
             "description": spec.description}
            for spec in setting_specs()]


@app.command()
def doctor(json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON.")) -> None:
    """Show every setting with its value and where it came from (default, file, environment;
    secrets masked) and check that the broker and the store answer and that the files kept
    under QUARTZ_HOME (order ledger, owner state, token and technical caches, simulator) are
    usable. Exits 5 if the broker fails, 6 if the store or a file fails, 3 on a config
    error."""
    from quartz_cli.app.notices import notice_plan
    from quartz_cli.app.runtime import open_runtime, open_store
    from quartz_cli.errors import ConfigError, QuartzError, StoreError
    from quartz_cli.kis.endpoints import endpoint_for

    cfg = config()
    settings = settings_report(cfg)
    endpoint = endpoint_for(cfg)
    try:
        notices = notice_plan(cfg).reason
    except ConfigError as exc:
        notices = exc.message
    checks: dict[str, dict] = {}
    failure: QuartzError | None = None

    store = open_store(cfg)
    try:
        store.ping()
        checks["store"] = {"ok": True, "detail": store.description}
    except StoreError as exc:
        checks["store"] = {"ok": False, "detail": exc.message}
        failure = failure or exc

    async def broker() -> dict:
        async with open_runtime(cfg) as rt:
            await rt.tokens.token()
            return {"ok": True, "detail": f"{endpoint.base_url} token {rt.tokens.layer}"}

    try:
        checks["broker"] = run(broker)
    except QuartzError as exc:
        # A damaged token cache or simulator database is reported here too, not raised.
        checks["broker"] = {"ok": False, "detail": exc.message}
        failure = exc if isinstance(exc, ConfigError) else failure or exc

    from quartz_cli.app.local_state import local_state

    for item in local_state(cfg):
        checks[f"file: {item.name}"] = item.to_dict()
        if item.error is not None:
            failure = failure or item.error

    broker_info = {"base_url": endpoint.base_url, "in_process_simulator": endpoint.in_process,
                   "tr_ids": "real (T...)" if endpoint.real_tr_ids else "paper (V...)",
                   "rate_limit_per_s": endpoint.rate_per_s * cfg.settings.broker.rate_share,
                   "fill_notices": notices}
    data = {
        "env": cfg.env.value,
        "config_file": {"path": str(cfg.config_file) if cfg.config_file else None,
                        "read": cfg.config_file_read},
        "broker": broker_info,
        "settings": settings,
        "checks": checks,
    }

    def render(con: Console) -> None:
        from rich.markup import escape
        from rich.table import Table

        from quartz_cli.cli.format import key_value_table

        file_note = "" if cfg.config_file_read else " (not found: defaults and environment)"
        con.print(key_value_table(f"environment: {cfg.env.value}", [
            ("broker", endpoint.base_url + (" (in-process simulator)" if endpoint.in_process
                                            else "")),
            ("TR_IDs", str(broker_info["tr_ids"])),
            ("rate limit", f"{broker_info['rate_limit_per_s']:g} calls/s"),
            ("fill notices", notices),
            ("config file", f"{cfg.config_file}{file_note}"),
        ]))
        # Three columns fit 80: the longest key is 32 characters, values wrap.
        table = Table(title="settings (environment > file > default)", title_justify="left")
        table.add_column("key", style="cyan", no_wrap=True)
        table.add_column("value", overflow="fold")
        table.add_column("source", no_wrap=True)
        section = None
        for item in settings:
            if item["section"] != section:
                section = item["section"]
                table.add_row(f"[bold]{section}[/]", "", "", end_section=False)
            value = item["value"]
            shown = ("[dim]unset[/]" if value is None else "[dim]empty[/]" if value == ""
                     else escape(str(value)))
            source = item["source"]
            style = {"environment": "yellow", "file": "green"}.get(source)
            table.add_row(f"  {item['key']}", shown,
                          f"[{style}]{source}[/]" if style else f"[dim]{source}[/]")
        con.print(table)
        for name, check in checks.items():
            mark = "[green]ok[/]" if check["ok"] else "[red]FAIL[/]"
            con.print(f"{mark} {name}: {escape(check.get('detail') or check['path'])}")
            if check.get("hint"):
                con.print(f"     [dim]fix: {escape(check['hint'])}[/]")

    emit(data, render, json_out)
    if failure is not None:
        raise typer.Exit(failure.exit_code)
