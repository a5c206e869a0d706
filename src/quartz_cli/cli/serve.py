"""`quartz serve`: the read-only JSON API over the store (see quartz_cli.servers.read_api)."""

from __future__ import annotations

import typer

from quartz_cli.cli.context import config, console, emit
from quartz_cli.cli.format import key_value_table

app = typer.Typer(add_completion=False)

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default; "
                             "0.0.0.0 in a container)."),
    port: int = typer.Option(8080, min=1, max=65535, help="TCP port."),
    json_out: bool = typer.Option(False, "--json", help="Print the startup summary as JSON."),
) -> None:
    """Serve the agents' latest documents as JSON: GET /result/analysis (macro summary),
    GET /result/analysis/full, GET /api/candidates, POST /result/analysis {"ticker"}
    (technical), GET /result/auth-token/status (never the token), GET /health/live and
    /health/ready. Read-only; every route but the probes needs `Authorization: Bearer
    $QUARTZ_INTERNAL_TOKEN` when that variable is set. Stop with Ctrl-C."""
    import uvicorn

    from quartz_cli.servers.guards import uvicorn_options
    from quartz_cli.servers.read_api import create_app

    cfg = config()
    api = create_app(cfg)
    guarded = cfg.settings.servers.internal_token is not None and bool(
        cfg.settings.servers.internal_token.get_secret_value())
    url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    summary = {"url": url, "env": cfg.env.value, "bearer_token_required": guarded}
    emit(summary, lambda con: con.print(key_value_table("Quartz read API", [
        ("listening on", url), ("environment", cfg.env.value),
        ("bearer token", "required" if guarded else "[yellow]not required[/]")])), json_out)
    if not guarded and host not in _LOOPBACK:
        console(stderr=True).print("[yellow]warning:[/] serving beyond loopback without "
                                   "QUARTZ_INTERNAL_TOKEN: anyone who can reach the port can "
                                   "read the documents", soft_wrap=True)
    uvicorn.run(api, host=host, port=port, log_level="warning", **uvicorn_options())
