"""`quartz auth`: the KIS access token."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from quartz_cli.cli.context import config, emit, run, want_json
from quartz_cli.cli.format import duration, key_value_table, kst

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(help="KIS access token: issue, cache (disk 0600 + shared store), refresh, "
                  "status. Tokens are refreshed after 23h55m or when under 5 minutes remain.",
                  no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")


def _render_status(data: dict) -> Callable[[Any], None]:
    def render(con: Console) -> None:
        rows = [
            ("environment", data["env"]),
            ("valid", "[green]yes[/]" if data["valid"] else "[red]no[/]"),
            ("answered by", data["layer"] or "no cached token"),
        ]
        if data.get("issued_at"):
            rows += [
                ("issued", kst(_dt(data["issued_at"]))),
                ("expires", kst(_dt(data["expires_at"]))),
                ("remaining", duration(data["remaining_s"])),
                ("refresh due", kst(_dt(data["refresh_due_at"]))),
            ]
        if data.get("note"):
            rows.append(("note", data["note"]))
        con.print(key_value_table("KIS access token", rows))
    return render


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


@app.command()
def status(json_out: bool = JSON_OPT) -> None:
    """Show the cached token's state (never the token) without issuing one."""
    from quartz_cli.app.runtime import open_runtime

    async def go() -> dict:
        async with open_runtime(config()) as rt:
            return rt.tokens.status().to_dict()

    data = run(go)
    emit(data, _render_status(data), json_out)


@app.command()
def refresh(json_out: bool = JSON_OPT) -> None:
    """Issue a token now, even if the cached one is still fresh.

    KIS answers a re-request within 6 hours of issuance with the same token, and issues one
    token a minute: within a minute of the last one a fresh token is kept (and the time the
    next is possible shown); without one, the command says how long it waits."""
    from quartz_cli.app.runtime import open_runtime
    from quartz_cli.cli.context import console

    async def go() -> dict:
        async with open_runtime(config()) as rt:
            aside = rt.tokens.repair_disk_cache()
            before = rt.tokens.status()
            now = rt.tokens.clock()
            next_at = rt.tokens.next_issue_at()
            if next_at is not None and next_at > now:
                wait = (next_at - now).total_seconds()
                if before.valid:
                    data = before.to_dict()
                    data["reused"] = True
                    data["next_issue_at"] = next_at.isoformat()
                    data["note"] = (f"kept the current token: KIS issues one token a minute; "
                                    f"the next is possible at {kst(next_at)} (in {wait:.0f} s)")
                    return data
                console(stderr=True).print(
                    f"waiting {wait:.0f} s: KIS issues one token a minute (the next at "
                    f"{kst(next_at)})", markup=False, soft_wrap=True)
            token = await rt.tokens.refresh()
            data = rt.tokens.status().to_dict()
            if aside is not None:
                data["note"] = f"the damaged token cache was moved to {aside}"
            if before.issued_at is not None and before.issued_at == token.issued_at:
                data["note"] = "KIS returned the same token (re-issue within 6 h)"
            return data

    data = run(go)
    emit(data, _render_status(data), json_out)


@app.command()
def token(json_out: bool = typer.Option(False, "--json", help="The token with its expiry, as "
                                        "JSON.")) -> None:
    """Print the access token alone (issuing one if needed), for shell scripts:
    `curl -H "authorization: Bearer $(quartz auth token)" ...`."""
    from quartz_cli.app.runtime import open_runtime

    async def go() -> tuple[str, dict]:
        async with open_runtime(config()) as rt:
            value = await rt.tokens.token()
            return value, rt.tokens.status().to_dict()

    value, status = run(go)
    if want_json(json_out):
        # Printed on purpose (this command's job), so it bypasses the secret-masking writer.
        sys.stdout.write(json.dumps({"access_token": value, "token_type": "Bearer",
                                     "expires_at": status["expires_at"], "env": status["env"]})
                         + "\n")
    else:
        sys.stdout.write(value + "\n")
