"""Composition root, live events: what the dashboard's stream reads from the account's event
log (orders and fills, decisions, the trading state, jobs) after a sequence number, and the
agents' latest documents whose arrival it announces."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quartz_cli.config import Config
    from quartz_cli.store.event_log import SqliteEventLog

#: The documents whose new versions the stream announces (prefixes in the store).
ANNOUNCED_DOCUMENTS = ("macro-analysis", "candidates", "decisions")


class LiveEvents:
    """The account's event log as the stream reads it: one open reader per stream."""

    def __init__(self, log: SqliteEventLog) -> None:
        self._log = log

    def after(self, seq: int, limit: int = 200) -> list[dict[str, Any]]:
        """Events after `seq`, oldest first, as JSON objects (at most `limit`)."""
        return [e.as_json() for e in self._log.since(seq, limit=limit)]

    def last_seq(self) -> int:
        """The newest event's sequence number (0 for an empty log)."""
        return self._log.last_seq()

    def close(self) -> None:
        self._log.close()


def open_live_events(config: Config) -> LiveEvents:
    """A reader of the configured account's event log (the file of its order ledger)."""
    from quartz_cli.app.events import event_log

    return LiveEvents(event_log(config))


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
