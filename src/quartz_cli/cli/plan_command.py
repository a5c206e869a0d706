"""What `quartz decide` and `quartz rebalance` share: wire, run with a progress bar, render,
and choose the exit code."""

from __future__ import annotations

from quartz_cli.cli.context import config, console, print_json, run, want_json
from quartz_cli.cli.plan_render import (
    detailed_exit_code,
    orders_error,
    render_plan,
    render_summary,
)

_STEPS = {"decide": 6, "rebalance": 4}


def run_plan_command(kind: str, *, dry_run: bool, json_flag: bool, detailed: bool,
                     force: bool = False) -> int:
    """Run one decide/rebalance and print it; return the exit code (0 unless `detailed`),
    or raise the error that says why some orders did not go (`plan_render.orders_error`)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from quartz_cli.agents.portfolio import run_decide, run_rebalance
    from quartz_cli.app.portfolio import open_portfolio

    cfg = config()
    as_json = want_json(json_flag)
    err = console(stderr=True)

    async def go() -> dict:
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as bar:
            task = bar.add_task(f"{kind}: starting", total=_STEPS[kind])

            def step(name: str) -> None:
                bar.update(task, advance=1, description=f"{kind}: {name}")

            async with open_portfolio(cfg, dry_run=dry_run, progress=step) as deps:
                if kind == "decide":
                    plan = await run_decide(deps, dry_run=dry_run)
                else:
                    plan = await run_rebalance(deps, dry_run=dry_run, force=force)
        return plan.model_dump(mode="json")

    data = run(go)
    if as_json:
        print_json(data)
        render_summary(data, err)
    elif data["outcome"] == "market_closed" and not dry_run:
        console().print(f"market closed: {data['session']['detail']}. Nothing was sent.",
                        soft_wrap=True)
    else:
        render_plan(data, console())
    failure = orders_error(data)
    if detailed:
        if failure is not None:
            console(stderr=True).print(f"error: {failure.message}", markup=False,
                                       soft_wrap=True)
        return detailed_exit_code(data)
    if failure is not None:
        # The plan (stored, and printed above) lists every order's fate.
        raise failure
    return 0
