"""`quartz events`: the account's event log (orders, decisions, exits, trading state, jobs,
tokens, stale data), oldest first; `--follow` keeps printing new events as they come."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import typer

from quartz_cli.cli.context import config, console, want_json
from quartz_cli.redaction import redact

if TYPE_CHECKING:
    from quartz_cli.domain.events import Event

app = typer.Typer(add_completion=False, invoke_without_command=True)

_POLL_S = 1.0


def _line(event: Event) -> str:
    """One event as a line of text: seq, KST-free UTC time, type, ids, data."""
    ids = " ".join(x for x in (f"run {event.run_id}" if event.run_id else "",
                               f"request {event.request_id}" if event.request_id else "") if x)
    data = " ".join(f"{k}={v}" for k, v in event.data.items())
    return f"{event.seq:>6}  {event.at:%Y-%m-%d %H:%M:%S}Z  {event.type:<24} {ids} {data}".rstrip()


def _print(events: list[Event], as_json: bool, con: Any) -> None:
    for event in events:
        if as_json:
            sys.stdout.write(redact(json.dumps(event.as_json(), ensure_ascii=False)) + "\n")
        else:
            con.print(_line(event), markup=False, highlight=False, soft_wrap=True)
    sys.stdout.flush()


@app.callback()
def events(
    ctx: typer.Context,
    since: int = typer.Option(None, "--since", metavar="SEQ", min=0,
                              help="Only events after this sequence number (default: the "
                              "last --limit events)."),
    limit: int = typer.Option(50, "--limit", min=1, max=10000, help="How many events at most "
                              "(before --follow takes over)."),
    event_type: list[str] = typer.Option(None, "--type", help="Only this type (repeatable), "
                                         "e.g. order.filled."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events "
                                "(Ctrl-C stops)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Print the account's event log, oldest first. Each event has a sequence number
    (monotonic per account), a UTC time, a type, the run id and request_id when it has them,
    and its data; the account is named by its key, never its number."""
    if ctx.invoked_subcommand is not None:
        return
    from quartz_cli.app.events import event_log

    as_json = want_json(json_out)
    types = set(event_type) if event_type else None
    log = event_log(config())
    con = console()
    try:
        batch = log.since(since, limit=limit, types=types) if since is not None else [
            e for e in log.tail(limit) if types is None or e.type in types]
        _print(batch, as_json, con)
        last = batch[-1].seq if batch else (since if since is not None else log.last_seq())
        while follow:
            time.sleep(_POLL_S)
            batch = log.since(last, limit=1000)
            if batch:
                last = batch[-1].seq
                _print([e for e in batch if types is None or e.type in types], as_json, con)
    except KeyboardInterrupt:
        pass
    finally:
        log.close()


@app.command()
def notify(once: bool = typer.Option(False, "--once", help="One delivery pass, then exit "
                                     "(for cron); default: keep delivering (Ctrl-C stops)."),
           json_out: bool = typer.Option(False, "--json", help="With --once: print "
                                         '{"sent": N} on stdout.'),
           ) -> None:
    """Send the account's events to the configured Telegram, Slack and webhook channels
    (QUARTZ_NOTIFY_*), in order, each from where it left off. The first start begins
    after the newest event (no replay); a channel that is down is retried with back-off."""
    import asyncio

    from quartz_cli.app.events import event_log
    from quartz_cli.app.notify import notifier
    from quartz_cli.errors import ConfigError

    cfg = config()
    log = event_log(cfg)
    service = notifier(cfg, log)
    if not service.routes:
        log.close()
        raise ConfigError("no notification channel is configured",
                          hint="set QUARTZ_NOTIFY_TELEGRAM_BOT_TOKEN and _CHAT_ID, "
                          "QUARTZ_NOTIFY_SLACK_WEBHOOK_URL or QUARTZ_NOTIFY_WEBHOOK_URL")

    async def go() -> int:
        try:
            if once:
                return await service.deliver()
            await service.run(asyncio.Event())
            return 0
        finally:
            await service.aclose()

    try:
        sent = asyncio.run(go())
    except KeyboardInterrupt:
        sent = 0
    finally:
        log.close()
    if once:
        from quartz_cli.cli.context import emit

        emit({"sent": sent}, lambda con: console(stderr=True).print(
            f"{sent} notification(s) sent", soft_wrap=True), json_out)


@app.command()
def jobs(json_out: bool = typer.Option(False, "--json", help="Machine-readable JSON.")) -> None:
    """The last run of each scheduled job (from its job.started / job.finished events): when
    it started, how it ended, and its last success."""
    from quartz_cli.app.events import event_log, job_summary
    from quartz_cli.cli.context import emit

    log = event_log(config())
    try:
        rows = job_summary(log)
    finally:
        log.close()

    def render(con: Any) -> None:
        from rich.table import Table

        table = Table(title="Jobs (last run)")
        for column in ("job", "started (UTC)", "exit", "seconds", "last success (UTC)"):
            table.add_column(column)
        for r in rows:
            table.add_row(str(r["job"]), str(r["started_at"] or ""),
                          "no end yet" if r["exit_code"] is None else str(r["exit_code"]),
                          str(r["seconds"] or ""), str(r["last_success_at"] or "never"))
        con.print(table)

    emit({"jobs": rows}, render, json_out)
