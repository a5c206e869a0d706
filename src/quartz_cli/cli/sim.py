"""`quartz sim`: the KIS-compatible exchange simulator used by `local`."""

from __future__ import annotations

from pathlib import Path

import typer

from quartz_cli.cli.context import config, confirm, emit, print_json, want_json
from quartz_cli.cli.format import key_value_table

app = typer.Typer(help="The local KIS-compatible exchange simulator. `local` runs it "
                  "in-process; `serve` puts it on loopback for several processes or tools.",
                  no_args_is_help=True)


def _db(db: Path | None) -> Path:
    return db or config().home / "sim" / "local.db"


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    port: int = typer.Option(9443, help="TCP port."),
    db: Path = typer.Option(None, help="State database (default: the one `local` uses)."),
    rate_limit: float = typer.Option(None, help="REST calls/s per app key (0 = off; "
                                     "default QUARTZ_SIM_RATE_LIMIT_PER_S or 18)."),
    real_tr_ids: bool = typer.Option(False, help="Accept real (T...) TR_IDs instead of paper."),
    limits: str = typer.Option(None, metavar="paper|real",
                               help="The paper protocol's REST limit: KIS's paper-account "
                               "limit (1/s) or, the default, the real account's (fast)."),
    json_out: bool = typer.Option(False, "--json", help="Print the startup line as JSON."),
) -> None:
    """Serve the simulator over HTTP. Point Quartz at it with
    QUARTZ_KIS_BASE_URL=http://127.0.0.1:PORT. With `--limits paper`, give the clients
    QUARTZ_SIM_LIMITS=paper too, so `local` paces itself at the paper limit."""
    from dataclasses import replace

    import uvicorn

    from quartz_cli.sim import SimConfig, SimState, Simulator

    cfg = SimConfig.from_env()
    if rate_limit is not None:
        cfg = replace(cfg, rate_limit_per_s=rate_limit)
    if real_tr_ids:
        cfg = replace(cfg, real_tr_ids=True)
    if limits is not None:
        from quartz_cli.errors import InputError

        try:
            cfg = replace(cfg, limits=limits.strip().lower())
        except ValueError as exc:
            raise InputError(f"--limits: {exc}") from None
    cfg_all = config()
    if cfg_all.settings.general.market_time is not None:
        from quartz_cli.sim.market import check_market_time

        # Refused here, once, rather than as a server error on every call.
        check_market_time(cfg_all.market_now())
    sim = Simulator(SimState(_db(db)), cfg, clock=lambda: cfg_all.market_now().timestamp(),
                    cache_dir=cfg_all.home / "cache")
    if want_json(json_out):
        print_json({"url": f"http://{host}:{port}", "db": str(_db(db)),
                    "rate_limit_per_s": cfg.rest_limit_per_s(), "limits": cfg.limits})
    else:
        typer.echo(f"KIS simulator on http://{host}:{port} (state {_db(db)})", err=True)
    # The simulator writes `Date` itself, in KIS's casing (sim/header_case.py).
    uvicorn.run(sim.app, host=host, port=port, log_level="warning", server_header=False,
                date_header=False)


@app.command()
def status(
    db: Path = typer.Option(None, help="State database."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout."),
) -> None:
    """What the simulator has served: requests, tokens issued, throttled calls, ..."""
    from quartz_cli.sim import SimState

    path = _db(db)
    counters = SimState(path).counters() if path.exists() else {}
    data = {"db": str(path), "counters": counters}
    emit(data, lambda con: con.print(key_value_table(
        f"simulator ({path})", [(k, str(v)) for k, v in sorted(counters.items())]
        or [("state", "empty")])), json_out)


@app.command()
def reset(
    db: Path = typer.Option(None, help="State database."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout."),
) -> None:
    """Delete the simulator's state (tokens, counters, orders, balances)."""
    path = _db(db)
    if not yes:
        confirm(f"Delete {path}?", refusal=f"not confirmed: {path} was kept")
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    emit({"deleted": str(path)}, lambda con: con.print(f"deleted {path}"), json_out)
