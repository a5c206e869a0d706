"""`quartz rebalance`: stop-loss and take-profit over held positions, through the gate."""

from __future__ import annotations

import sys

import typer

from quartz_cli.cli.plan_render import EXIT_CODES_HELP

app = typer.Typer(add_completion=False)


@app.command(help=(
    "Check held positions against the stop-loss (QUARTZ_STOP_LOSS_PCT, default −5 %) and "
    "take-profit (QUARTZ_TAKE_PROFIT_PCT, default +15 %) thresholds, measured against the "
    "average purchase price; sell the positions that crossed one, through the same risk gate "
    "as `quartz decide`; print the interval until the next check (5–10 minutes, shorter "
    "when the held tickers trade busily). A real run records it in the store, and a run "
    "before the next check is due does nothing (nothing to do, exit 0), so a CronJob can "
    "fire every 5 minutes; --force checks now.\n\n"
    "Outside the KRX order window a real run prints 'market closed' and exits 0."))
def rebalance(
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Plan only: send nothing, store nothing."),
    json_out: bool = typer.Option(False, "--json", help="The plan as one JSON document on stdout; "
                                  "a summary on stderr."),
    detailed: bool = typer.Option(False, "--detailed-exit-codes", help=EXIT_CODES_HELP),
    force: bool = typer.Option(False, "--force", help="Check now, even before the next check "
                               "is due."),
) -> None:
    from quartz_cli.cli.plan_command import run_plan_command

    code = run_plan_command("rebalance", dry_run=dry_run, json_flag=json_out, detailed=detailed,
                            force=force)
    if code:
        sys.exit(code)
