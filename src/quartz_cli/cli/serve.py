"""`quartz serve`: the read-only JSON API over the store (see quartz_cli.servers.read_api)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from quartz_cli.cli.context import config, console, emit
from quartz_cli.cli.format import key_value_table

if TYPE_CHECKING:
    from quartz_cli.config import Config

app = typer.Typer(add_completion=False)

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _dashboard_login(cfg: Config) -> str:
    """Which token logs in to the dashboard as operator, named (never shown). In local a
    token is created under $QUARTZ_HOME/trading/ when none is set, as `trade serve` does."""
    from quartz_cli.app.internal_token import internal_token
    from quartz_cli.app.ownership import trading_dir
    from quartz_cli.config import Env

    if cfg.settings.dashboard.operator_token is not None:
        return "QUARTZ_DASHBOARD_OPERATOR_TOKEN"
    if cfg.settings.servers.internal_token is not None:
        return "QUARTZ_INTERNAL_TOKEN"
    if cfg.env is Env.LOCAL:
        internal_token(cfg, create=True)
        return f"the token in {trading_dir(cfg) / 'internal-token'}"
    return "nothing: set QUARTZ_DASHBOARD_OPERATOR_TOKEN or QUARTZ_INTERNAL_TOKEN"


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default; "
                             "0.0.0.0 in a container)."),
    port: int = typer.Option(8080, min=1, max=65535, help="TCP port."),
    json_out: bool = typer.Option(False, "--json", help="Print the startup summary as JSON."),
) -> None:
    """Serve the web dashboard at /app/ (log in with the operator token; see
    docs/dashboard.md) and the agents' latest documents as JSON: GET /result/analysis (macro
    summary), GET /result/analysis/full, GET /api/candidates, POST /result/analysis {"ticker"}
    (technical), GET /result/auth-token/status (never the token), GET /health/live and
    /health/ready. Read-only; every route but the probes needs `Authorization: Bearer
    $QUARTZ_INTERNAL_TOKEN` when that variable is set. Stop with Ctrl-C."""
    import uvicorn

    from quartz_cli.servers.guards import uvicorn_options
    from quartz_cli.servers.read_api import create_app

    cfg = config()
    login = _dashboard_login(cfg)
    api = create_app(cfg)
    guarded = cfg.settings.servers.internal_token is not None and bool(
        cfg.settings.servers.internal_token.get_secret_value())
    url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    summary = {"url": url, "env": cfg.env.value, "bearer_token_required": guarded,
               "dashboard": f"{url}/app/", "dashboard_login": login}
    emit(summary, lambda con: con.print(key_value_table("Quartz read API", [
        ("listening on", url), ("dashboard", f"{url}/app/ (log in with {login})"),
        ("environment", cfg.env.value),
        ("bearer token", "required" if guarded else "[yellow]not required[/]")])), json_out)
    if not guarded and host not in _LOOPBACK:
        console(stderr=True).print("[yellow]warning:[/] serving beyond loopback without "
                                   "QUARTZ_INTERNAL_TOKEN: anyone who can reach the port can "
                                   "read the documents", soft_wrap=True)
    uvicorn.run(api, host=host, port=port, log_level="warning", **uvicorn_options())
