"""The `quartz` command line: thin typer commands that call agents and render results."""
