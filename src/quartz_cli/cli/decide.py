"""`quartz decide`: gather, decide, risk gate, orders (`--dry-run` plans only)."""

from __future__ import annotations

import sys

import typer

from quartz_cli.cli.plan_render import EXIT_CODES_HELP

app = typer.Typer(add_completion=False)

JSON_OPT = typer.Option(False, "--json", help="The plan as one JSON document on stdout (schema: "
                        "quartz_cli/schemas/decision-plan.schema.json); a summary on stderr.")
DETAILED_OPT = typer.Option(False, "--detailed-exit-codes", help=EXIT_CODES_HELP)


@app.command(help=(
    "Decide and trade. Gathers the macro summary, the candidates, the technical state of "
    "candidates and holdings, the balance and current prices (producing macro, candidates and "
    "technical first when the store has none); decides BUY/SELL/HOLD with target weights "
    "(OpenAI when configured, else the documented rule engine, which says so); cuts the "
    "decision down with the risk gate; and sends the orders to the trading agent "
    "(TRADING_AGENT_WS_URL, or in-process). The decision is stored under decisions/.\n\n"
    "--dry-run computes and prints the plan (inputs, decisions with rationale, what the gate "
    "cut and why, orders, weights before/after, session state), sends nothing and stores no "
    "decision; inputs the store lacks are still produced and stored, as for a real run.\n\n"
    "Outside the KRX order window a real run prints 'market closed' and exits 0. A run whose "
    "orders did not all go exits non-zero (see --detailed-exit-codes)."))
def decide(
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Plan only: send no order and store no decision. Inputs "
                                 "missing from the store (macro, candidates, technical) are "
                                 "produced and stored, as for a real run."),
    json_out: bool = JSON_OPT,
    detailed: bool = DETAILED_OPT,
) -> None:
    from quartz_cli.cli.plan_command import run_plan_command

    code = run_plan_command("decide", dry_run=dry_run, json_flag=json_out, detailed=detailed)
    if code:
        sys.exit(code)
