"""Composition root, live events: what the dashboard's stream reads from the account's event
log (orders and fills, decisions, the trading state, jobs) after a sequence number, and the
agents' latest documents whose arrival it announces."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from quartz_cli.config import Config
    from quartz_cli.remote.owner_events_client import OwnerEventsClient
    from quartz_cli.store.event_log import SqliteEventLog

#: The documents whose new versions the stream announces (prefixes in the store).
ANNOUNCED_DOCUMENTS = ("macro-analysis", "candidates", "decisions")


class LiveEvents(Protocol):
    """The account's event log as the stream reads it (blocking calls)."""

    def after(self, seq: int, limit: int = 200) -> list[dict[str, Any]]:
        """Events after `seq`, oldest first, as JSON objects (at most `limit`)."""
        ...

    def last_seq(self) -> int:
        """The newest event's sequence number (0 for an empty log)."""
        ...

    def jobs(self) -> list[dict[str, Any]]:
        """Each job's last run and last success (`app.events.job_summary`)."""
        ...

    def close(self) -> None: ...


class HostEvents:
    """The log in this host's order-ledger file."""

    def __init__(self, log: SqliteEventLog) -> None:
        self._log = log

    def after(self, seq: int, limit: int = 200) -> list[dict[str, Any]]:
        return [e.as_json() for e in self._log.since(seq, limit=limit)]

    def last_seq(self) -> int:
        return self._log.last_seq()

    def jobs(self) -> list[dict[str, Any]]:
        from quartz_cli.app.events import job_summary

        return job_summary(self._log)

    def close(self) -> None:
        self._log.close()


class OwnerEvents:
    """The log at the account's owner, over its `GET /api/events` (in a cluster the ledger,
    and so the log, is on the trading agent's volume)."""

    def __init__(self, client: OwnerEventsClient) -> None:
        self._client = client

    def after(self, seq: int, limit: int = 200) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self._client.read(seq, limit)["events"]
        return events

    def last_seq(self) -> int:
        return int(self._client.read(0, 1)["last_seq"])

    def jobs(self) -> list[dict[str, Any]]:
        return self._client.jobs()

    def close(self) -> None:
        self._client.close()


def open_live_events(config: Config, *, local: bool = False) -> LiveEvents:
    """A reader of the configured account's event log: the owner's over HTTP when a trading
    agent owns the account (TRADING_AGENT_WS_URL) unless `local`, else this host's file."""
    from quartz_cli.app.events import is_owner_process

    url = config.settings.servers.trading_agent_ws_url
    if url and not local and not is_owner_process():
        from quartz_cli.app.internal_token import internal_token
        from quartz_cli.remote.owner_events_client import OwnerEventsClient

        return OwnerEvents(OwnerEventsClient(url, internal_token(config)))
    from quartz_cli.app.events import event_log

    return HostEvents(event_log(config))


def last_event_seq(config: Config) -> int:
    """The newest event's sequence number: a page reads it before its snapshot, then follows
    the stream from there, so nothing falls between the two."""
    events = open_live_events(config)
    try:
        return events.last_seq()
    finally:
        events.close()


def document_heads(config: Config, store: Any) -> dict[str, str | None]:
    """When each announced document was last produced (None if never), by prefix."""
    from quartz_cli.app.dashboard import agent_runs

    return {run["prefix"]: run["produced_at"] for run in agent_runs(config, store)
            if run["prefix"] in ANNOUNCED_DOCUMENTS}
