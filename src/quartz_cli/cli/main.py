"""`quartz`: the root command. Sub-commands are imported only when they run, so `--help`
and small jobs start fast (heavy libraries load inside the commands that use them)."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from quartz_cli import __version__
from quartz_cli.errors import NotImplementedYet, QuartzError

# name → (module holding `app`, or None if not built yet; one-line help shown by --help).
# One entry per paragraph so that branches filling in different commands merge cleanly.
COMMANDS: dict[str, tuple[str | None, str]] = {
    "auth": ("quartz_cli.cli.auth", "KIS access token: issue, cache, refresh, status."),

    "macro": ("quartz_cli.cli.macro", "Macro view: ECOS, FRED, World Bank → statistics → "
              "report."),

    "select": ("quartz_cli.cli.select",
               "Candidates from the news: crawl, match tickers, sentiment, score."),

    "analyze": ("quartz_cli.cli.analyze",
                "Technical state of tickers: RSI, MACD, Bollinger, Fibonacci, MAs."),

    "decide": ("quartz_cli.cli.decide", "Decide and trade: gather, decide, risk gate, orders "
               "(--dry-run plans)."),

    "rebalance": ("quartz_cli.cli.rebalance", "Stop-loss and take-profit over held positions, "
                  "through the gate."),

    "trade": ("quartz_cli.cli.trade", "Orders on KIS: buy, sell, cancel, list; serve the order "
              "WebSocket."),

    "serve": ("quartz_cli.cli.serve", "Read-only JSON API over the store (analysis, "
              "candidates, token status)."),

    "data": ("quartz_cli.cli.data", "Market data: daily bars kept in the store, updated "
             "incrementally (pull, status)."),

    "backtest": ("quartz_cli.cli.backtest", "Replay the decision path over past sessions: "
                 "fills at the next open, KRX costs, a report."),

    "sim": ("quartz_cli.cli.sim", "The local KIS-compatible exchange simulator."),

    "events": ("quartz_cli.cli.events", "The account's event log: orders, decisions, exits, "
               "jobs (--follow, --json)."),
    "status": ("quartz_cli.cli.status", "The account and the agents at a glance, on one "
               "screen."),

    "doctor": ("quartz_cli.cli.doctor", "Resolved configuration (secrets masked); broker and "
               "store checks."),
}


class _NotBuilt(TyperCommand):
    """A command group that exists in the design but not yet in code: fails loudly."""

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(
            name, help=f"{help_text} (not implemented yet)",
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                              "help_option_names": []},
            callback=self._fail,
        )

    def _fail(self) -> None:
        raise NotImplementedYet(f"'quartz {self.name}' is not implemented yet")


class _Lazy(TyperCommand):
    """Stands in for a sub-command in the root's listing; imports it only when it runs."""

    def __init__(self, name: str, module: str, help_text: str) -> None:
        super().__init__(name, help=help_text, short_help=help_text)
        self._module = module
        self._real: Any = None

    def load(self) -> Any:
        if self._real is None:
            app = importlib.import_module(self._module).app
            self._real = typer.main.get_command(app)
            self._real.name = self.name
        return self._real

    def make_context(self, info_name: str | None, args: list[str],
                     parent: Any = None, **extra: Any) -> Any:
        return self.load().make_context(info_name, args, parent=parent, **extra)


class LazyGroup(TyperGroup):
    """The root group: lists COMMANDS without importing them."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from quartz_cli.cli.help import render_root_help

        render_root_help(ctx, self, COMMANDS)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, help_text = entry
        return _Lazy(cmd_name, module, help_text) if module else _NotBuilt(cmd_name, help_text)


app = typer.Typer(
    cls=LazyGroup,
    name="quartz",
    help="Quartz: trade Korean stocks through the KIS Open API, decided by six cooperating "
    "agents.\n\nThe default environment is `local`: a built-in KIS-compatible simulator and "
    "rule-based engines, no keys and no network. `--env paper` and `--env prod` (or "
    "QUARTZ_ENV / IS_PRODUCTION=true) use KIS itself.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"quartz {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    env: str = typer.Option(None, "--env", "-e", metavar="local|paper|prod",
                            help="Environment (default: QUARTZ_ENV, IS_PRODUCTION, else local)."),
    config_file: str = typer.Option(None, "--config", metavar="FILE",
                                    help="Config file (default: QUARTZ_CONFIG, else "
                                    "$QUARTZ_HOME/config.toml); the environment wins over it."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON on stdout."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True,
                                help="Log to stderr: -v info, -vv debug (secrets masked)."),
    log_format: str = typer.Option("auto", "--log-format", envvar="QUARTZ_LOG_FORMAT",
                                   metavar="auto|json|text",
                                   help="Log lines as JSON (servers, jobs) or text; auto: "
                                   "text on a terminal, JSON otherwise."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Quartz root options, shared by every command."""
    from quartz_cli.cli.context import Globals, set_globals
    from quartz_cli.logs import FORMATS, setup_logging

    if env is not None and env not in ("local", "paper", "prod"):
        raise typer.BadParameter("choose local, paper or prod", param_hint="--env")
    if log_format not in FORMATS:
        raise typer.BadParameter("choose auto, json or text", param_hint="--log-format")
    ctx.obj = Globals(env=env, json=json_out, verbose=verbose, config_file=config_file)
    set_globals(ctx.obj)
    setup_logging(verbose, log_format)
    from quartz_cli.cli.jobs import track_job

    track_job(ctx)


def json_requested(args: list[str]) -> bool:
    """Whether `--json` was given anywhere before a `--` (the root's or a command's), known
    even when the command failed before parsing its own options."""
    options = args[:args.index("--")] if "--" in args else args
    return "--json" in options


def main() -> None:
    """Console-script entry: runs the app and maps every failure to a message and an exit
    code, once for all commands: a Quartz error, a usage error, a declined prompt or a bug.
    With `--json` the failure is also one JSON document on stdout (unless the command
    already printed its own document, which then says what failed)."""
    from quartz_cli.cli.context import json_in_argv, report_crash, report_error, report_usage

    # Everything Quartz writes (token cache, ledger, local store) is private to the user.
    os.umask(0o077)
    if json_requested(sys.argv[1:]):
        json_in_argv()
    try:
        code = app(standalone_mode=False)
    except QuartzError as exc:
        report_error(exc)
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        report_usage(exc)
        sys.exit(getattr(exc, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(130)
    except OSError as exc:
        if not exc.filename:
            raise
        # A file no adapter named (a lock, a cache): still a storage error naming the file.
        from quartz_cli.cli.context import report_error
        from quartz_cli.errors import local_state_error

        named = local_state_error(exc.filename, "the file", exc, fix="make QUARTZ_HOME "
                                  "writable by this user and free some space, then run again")
        report_error(named)
        sys.exit(named.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: masked, then exit 1
        report_crash(exc)
        sys.exit(1)
    # Without standalone mode click returns `typer.Exit`'s code (None on plain success).
    sys.exit(code if isinstance(code, int) else 0)
