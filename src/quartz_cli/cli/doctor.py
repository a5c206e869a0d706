"""`quartz doctor`: the resolved configuration with secrets masked, and live checks."""

from __future__ import annotations

import typer

from quartz_cli.cli.context import config, emit, run

app = typer.Typer()


@app.command()
def doctor(json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON.")) -> None:
    """Show the resolved configuration (secrets masked) and check that the broker and the
    store answer. Exits 5 if the broker fails, 6 if the store fails, 3 on a config error."""
    from pydantic import SecretStr

    from quartz_cli.errors import BrokerError, ConfigError, QuartzError, StoreError
    from quartz_cli.kis.endpoints import endpoint_for
    from quartz_cli.app.runtime import open_store
    from quartz_cli.app.runtime import open_runtime

    cfg = config()
    settings = {}
    for name, field in type(cfg.settings).model_fields.items():
        value = getattr(cfg.settings, name)
        key = field.validation_alias if isinstance(field.validation_alias, str) else name
        if isinstance(value, SecretStr):
            settings[key] = "set (masked)"
        elif value is None or isinstance(value, (int, float, bool)):
            settings[key] = value
        else:
            settings[key] = str(value)
    endpoint = endpoint_for(cfg)
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
    except (BrokerError, ConfigError) as exc:
        checks["broker"] = {"ok": False, "detail": exc.message}
        failure = exc if isinstance(exc, ConfigError) else failure or exc

    data = {
        "env": cfg.env.value,
        "broker": {"base_url": endpoint.base_url, "in_process_simulator": endpoint.in_process,
                   "tr_ids": "real (T...)" if endpoint.real_tr_ids else "paper (V...)",
                   "rate_limit_per_s": endpoint.rate_per_s * cfg.settings.rate_share},
        "settings": settings,
        "checks": checks,
    }

    def render(con) -> None:
        from rich.markup import escape
        from rich.table import Table

        from quartz_cli.cli.format import key_value_table

        con.print(key_value_table(f"environment: {cfg.env.value}", [
            ("broker", endpoint.base_url + (" (in-process simulator)" if endpoint.in_process
                                            else "")),
            ("TR_IDs", data["broker"]["tr_ids"]),
            ("rate limit", f"{data['broker']['rate_limit_per_s']:g} calls/s"),
        ]))
        table = Table(title="settings", title_justify="left")
        table.add_column("key", style="cyan")
        table.add_column("value")
        for k, v in settings.items():
            table.add_row(k, "unset" if v is None else str(v))
        con.print(table)
        for name, check in checks.items():
            mark = "[green]ok[/]" if check["ok"] else "[red]FAIL[/]"
            con.print(f"{mark} {name}: {escape(check['detail'])}")

    emit(data, render, json_out)
    if failure is not None:
        raise typer.Exit(failure.exit_code)
