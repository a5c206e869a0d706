"""Composition root, notifications: the channels the configuration turns on, and the
notifier over the account's event log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quartz_cli.agents.notifier import Notifier, Route
from quartz_cli.domain.notifications import parse_selection

if TYPE_CHECKING:
    from quartz_cli.config import Config
    from quartz_cli.ports import Store
    from quartz_cli.store.event_log import SqliteEventLog


def notification_routes(config: Config) -> list[Route]:
    """One route per channel whose address is set."""
    from quartz_cli.notify.channels import SlackChannel, TelegramChannel, WebhookChannel

    n = config.settings.notify
    routes = []
    if n.telegram_bot_token is not None and n.telegram_chat_id:
        routes.append(Route(TelegramChannel(n.telegram_api_url,
                                            n.telegram_bot_token.get_secret_value(),
                                            n.telegram_chat_id),
                            parse_selection(n.telegram_events), n.telegram_lang))
    if n.slack_webhook_url is not None:
        routes.append(Route(SlackChannel(n.slack_webhook_url.get_secret_value()),
                            parse_selection(n.slack_events), n.slack_lang))
    if n.webhook_url is not None:
        routes.append(Route(WebhookChannel(n.webhook_url.get_secret_value()),
                            parse_selection(n.webhook_events), n.webhook_lang))
    return routes


def notifier(config: Config, events: SqliteEventLog) -> Notifier:
    """The notifier over `events` with the configured channels (none: nothing to do)."""
    return Notifier(events, notification_routes(config),
                    backlog_limit=config.settings.notify.backlog_limit,
                    poll_s=config.settings.notify.poll_s)


def serving_notifier(config: Config, store: Store) -> Notifier:
    """The notifier the trading server runs beside its orders: the configured channels and
    the archive of the log in `store`."""
    from quartz_cli.app.events import event_log
    from quartz_cli.notify.channels import StoreArchive

    events = event_log(config)
    service = notifier(config, events)
    service.routes.append(Route(StoreArchive(store, events.account), frozenset(),
                                archive=True))
    return service

