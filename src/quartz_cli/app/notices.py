"""Composition root, real-time fill notices: whether the trading server listens to KIS's
order-notice stream, and the listener wired to the trading agent when it does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from quartz_cli.config import Config, Env, NoticeChoice
from quartz_cli.errors import ConfigError
from quartz_cli.kis.endpoints import endpoint_for

if TYPE_CHECKING:
    from quartz_cli.agents.fill_notices import FillNotices
    from quartz_cli.agents.trading import TradingAgent
    from quartz_cli.app.runtime import Runtime

# `local` talks to Quartz's own simulator, which takes any HTS ID.
LOCAL_HTS_ID = "quartz-local"


@dataclass(frozen=True)
class NoticePlan:
    """Whether fill notices are on for this configuration, and why (for doctor)."""

    enabled: bool
    reason: str
    ws_url: str = ""
    real_tr_ids: bool = False


def notice_plan(config: Config) -> NoticePlan:
    """On by default where the broker offers the stream: a WebSocket URL (the KIS domains
    have one; `local`'s in-process simulator has none unless QUARTZ_KIS_WS_URL names a
    `quartz sim serve`) and an HTS ID (QUARTZ_KIS_HTS_ID; any in `local`). `on` without
    them is a ConfigError; `off` turns them off."""
    choice = config.settings.broker.fill_notices
    if choice is NoticeChoice.OFF:
        return NoticePlan(False, "off (QUARTZ_FILL_NOTICES=off): fills come from polling")
    endpoint = endpoint_for(config)
    hts = config.settings.broker.hts_id
    missing = []
    if not endpoint.ws_url:
        missing.append("no KIS WebSocket (the in-process simulator; set QUARTZ_KIS_WS_URL)")
    if hts is None and config.env is not Env.LOCAL:
        missing.append("no HTS ID (set QUARTZ_KIS_HTS_ID)")
    if missing:
        if choice is NoticeChoice.ON:
            raise ConfigError("QUARTZ_FILL_NOTICES=on but " + " and ".join(missing))
        return NoticePlan(False, "off: " + "; ".join(missing) + "; fills come from polling")
    account = "real" if endpoint.real_tr_ids else "paper"
    return NoticePlan(True, f"on: {account}-account order notices at {endpoint.ws_url}",
                      endpoint.ws_url, endpoint.real_tr_ids)


def fill_notices(rt: Runtime, agent: TradingAgent) -> FillNotices | None:
    """The listener that feeds KIS's order notices into `agent`'s ledger, or None when the
    plan says off."""
    from quartz_cli.agents.fill_notices import FillNotices
    from quartz_cli.kis.realtime import notice_stream

    config = rt.config
    plan = notice_plan(config)
    if not plan.enabled:
        return None
    hts = config.settings.broker.hts_id
    app_key, app_secret = config.broker_credentials()
    stream = notice_stream(rt.kis, app_key, app_secret, ws_url=plan.ws_url,
                           real_tr_ids=plan.real_tr_ids,
                           hts_id=hts.get_secret_value() if hts else LOCAL_HTS_ID,
                           account=config.account(), clock=config.market_now)
    return FillNotices(agent, stream)
