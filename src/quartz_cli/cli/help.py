"""The root `quartz --help`, drawn with a few rich primitives instead of typer's rich help
(which imports markdown and syntax highlighting and would triple the start-up time)."""

from __future__ import annotations

from typing import Any


def render_root_help(ctx: Any, group: Any, commands: dict[str, tuple[str | None, str]]) -> None:
    """Usage, description, options and commands in panels, like the sub-commands' help."""
    from rich import box
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    con = Console(highlight=False)
    con.print(f"\n[bold]Usage:[/] {ctx.command_path} [OPTIONS] COMMAND [ARGS]...\n")
    for para in (group.help or "").split("\n\n"):
        con.print(" ".join(para.split()) + "\n")

    options = Table(box=None, show_header=False, pad_edge=False, expand=True)
    options.add_column(style="bold cyan", no_wrap=True)
    options.add_column(style="bold green", no_wrap=True)
    options.add_column(ratio=1)
    for param in group.get_params(ctx):
        if getattr(param, "param_type_name", "") != "option" or param.hidden:
            continue
        longs = ", ".join(o for o in param.opts if o.startswith("--"))
        shorts = ", ".join(o for o in param.opts if not o.startswith("--"))
        metavar = "" if param.is_flag or param.count else (param.metavar or param.type.name.upper())
        hint = f" [dim]{metavar}[/]" if metavar else ""
        options.add_row(longs, shorts, (param.help or "") + hint)
    con.print(Panel(options, title="Options", title_align="left", border_style="dim",
                    box=box.ROUNDED))

    table = Table(box=None, show_header=False, pad_edge=False, expand=True)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(ratio=1)
    for name, (module, text) in commands.items():
        table.add_row(name, text if module else f"{text} [dim](not implemented yet)[/]")
    con.print(Panel(table, title="Commands", title_align="left", border_style="dim",
                    box=box.ROUNDED))
    con.print("Run [bold]quartz COMMAND --help[/] for a command's options. "
              "Exit codes: see README.\n")
