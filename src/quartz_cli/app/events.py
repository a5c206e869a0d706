"""Composition root, events: the account's event log and the job records written to it.

Where an event goes: the account's owner keeps the log (next to its order ledger). A process
that is not the owner, with TRADING_AGENT_WS_URL set (a CronJob's pod, whose home is
scratch), sends what it reports to the owner (`POST /api/events`); the owner's own process
(`quartz trade serve` calls `serve_as_owner`) and a host without a trading server write the
log file directly."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from quartz_cli.domain.events import EventType

if TYPE_CHECKING:
    from quartz_cli.config import Config
    from quartz_cli.store.event_log import SqliteEventLog

log = logging.getLogger(__name__)

#: Seconds a job waits for the owner to take one event.
POST_TIMEOUT_S = 5.0
_owner_process = False


def is_owner_process() -> bool:
    """Whether this process keeps the account's event log (see `serve_as_owner`)."""
    return _owner_process


def serve_as_owner() -> None:
    """Mark this process as the account's owner: its events go to the log file it keeps,
    never over HTTP (to itself)."""
    global _owner_process
    _owner_process = True


def event_log(config: Config) -> SqliteEventLog:
    """The event log of the configured account: in the file of its order ledger
    (`$QUARTZ_HOME/trading/<env>-ledger.db`), named by the account's key."""
    from quartz_cli.app.ownership import account_name, trading_dir
    from quartz_cli.store.event_log import SqliteEventLog

    return SqliteEventLog(trading_dir(config) / f"{config.env.value}-ledger.db",
                          account_name(config))


def record(config: Config, kind: EventType | str, *, run_id: str | None = None,
           request_id: str | None = None, data: dict[str, object] | None = None) -> int | None:
    """Append one event to the account's log; never fails the work it reports on (a log
    that cannot be written is itself logged). The sequence number, or None."""
    from quartz_cli.errors import ConfigError, QuartzError

    url = config.settings.servers.trading_agent_ws_url
    try:
        if url and not is_owner_process():
            return _post(config, url, kind, run_id=run_id, request_id=request_id, data=data)
        events = event_log(config)
        try:
            return events.append(kind, run_id=run_id, request_id=request_id, data=data)
        finally:
            events.close()
    except ConfigError as exc:
        # No account configured (an auth command with only the app keys): nothing to log to.
        log.debug("no event log for %s: %s", kind, exc)
    except (QuartzError, OSError) as exc:
        log.warning("could not record event %s: %s", kind, exc)
    except Exception as exc:  # noqa: BLE001 - sqlite errors and the like: the job goes on
        log.warning("could not record event %s: %s: %s", kind, type(exc).__name__, exc)
    return None


def _post(config: Config, ws_url: str, kind: EventType | str, *, run_id: str | None,
          request_id: str | None, data: dict[str, object] | None) -> int:
    """Send one event to the owner's log at `ws_url`'s server; its sequence number there."""
    import httpx

    from quartz_cli.app.internal_token import internal_token
    from quartz_cli.errors import BrokerUnavailable
    from quartz_cli.logs import current_run_id
    from quartz_cli.remote.trading_client import http_base

    body = {"type": str(getattr(kind, "value", kind)),
            "run_id": run_id if run_id is not None else current_run_id(),
            "request_id": request_id, "data": data or {}}
    base = http_base(ws_url)
    try:
        resp = httpx.post(f"{base}/api/events", json=body, timeout=POST_TIMEOUT_S,
                          headers={"authorization": f"Bearer {internal_token(config)}"})
    except httpx.HTTPError as exc:
        raise BrokerUnavailable(f"the trading agent at {base} did not take the event: "
                                f"{type(exc).__name__}") from None
    if resp.status_code != 200:
        raise BrokerUnavailable(f"the trading agent at {base} answered {resp.status_code} "
                                "to an event")
    return int(resp.json()["seq"])


def job_summary(events: SqliteEventLog, lookback: int = 1000) -> list[dict[str, object]]:
    """Per job, its last run (start time, exit code and seconds, None while it runs or if it
    died without an end) and its last success, by job name."""
    jobs: dict[str, dict[str, object]] = {}
    for start in reversed(events.of_type(EventType.JOB_STARTED, limit=lookback)):
        jobs[str(start.data.get("job"))] = {
            "job": str(start.data.get("job")), "started_at": start.at.isoformat(),
            "started_seq": start.seq, "exit_code": None, "seconds": None,
            "last_success_at": None}
    for end in reversed(events.of_type(EventType.JOB_FINISHED, limit=lookback)):
        row = jobs.setdefault(str(end.data.get("job")), {
            "job": str(end.data.get("job")), "started_at": None, "started_seq": 0,
            "exit_code": None, "seconds": None, "last_success_at": None})
        if end.seq > int(str(row["started_seq"])):
            row["exit_code"], row["seconds"] = end.data.get("exit_code"), end.data.get("seconds")
        if end.data.get("exit_code") == 0:
            row["last_success_at"] = end.at.isoformat()
    return [jobs[name] for name in sorted(jobs)]


class EventRecorder:
    """The `EventSink` port for the agents: appends to the configured account's log and
    never fails the run it reports on (a write that fails is logged instead)."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def append(self, kind: str, *, now: datetime | None = None, run_id: str | None = None,
               request_id: str | None = None, data: dict[str, object] | None = None) -> int:
        """Append one event; its sequence number (0 when it could not be written)."""
        return record(self.config, kind, run_id=run_id, request_id=request_id, data=data) or 0


def exit_code_of(exc: BaseException | None) -> int:
    """The process exit status an exception ends a command with (0 for none)."""
    if exc is None:
        return 0
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if isinstance(exc, KeyboardInterrupt):
        return 130
    code = getattr(exc, "exit_code", 1)
    return code if isinstance(code, int) else 1


class JobEvents:
    """Write `job.started` on entry and `job.finished` (exit code, seconds) on exit: the
    record of each scheduled run that `quartz status` and the dashboard read. When closed
    without exception details (click closes its context's resources that way) it reads the
    exception in flight, so the exit code is the command's."""

    def __init__(self, config: Config, job: str, run_id: str | None = None) -> None:
        self.config, self.job, self.run_id = config, job, run_id
        self.started = datetime.now(UTC)

    def __enter__(self) -> JobEvents:
        self.started = datetime.now(UTC)
        record(self.config, EventType.JOB_STARTED, run_id=self.run_id, data={"job": self.job})
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if exc is None:
            exc = sys.exc_info()[1]
        seconds = round((datetime.now(UTC) - self.started).total_seconds(), 3)
        record(self.config, EventType.JOB_FINISHED, run_id=self.run_id,
               data={"job": self.job, "exit_code": exit_code_of(exc), "seconds": seconds})
