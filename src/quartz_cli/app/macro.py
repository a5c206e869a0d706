"""Composition root, macro agent: the collectors (ECOS, FRED, World Bank or their local
fakes), the report writer (Gemini when configured, else the rule engine) and the store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from quartz_cli.agents.macro import MacroAgent
from quartz_cli.config import Config, Env
from quartz_cli.llm.macro_rules import rule_view
from quartz_cli.ports import MacroReporter, Store


def macro_reporter(config: Config) -> tuple[MacroReporter | None, str]:
    """The Gemini report writer, or None and why the rule engine writes the report."""
    s = config.settings.llm
    if config.env is Env.LOCAL:
        return None, "the local environment uses the rule engine (no keys, no network)"
    if s.gemini_api_key is None:
        return None, "GEMINI_API_KEY is not set"
    from quartz_cli.llm.gemini import GeminiClient
    from quartz_cli.llm.macro_report import GeminiMacroReporter

    # A grounded report takes longer than a broker call: never less than a minute.
    timeout_s = max(60.0, config.settings.broker.http_timeout_s)
    client = GeminiClient(s.gemini_api_key.get_secret_value(), s.gemini_model,
                          base_url=s.gemini_base_url, timeout_s=timeout_s)
    return GeminiMacroReporter(client), ""


@contextlib.asynccontextmanager
async def open_macro(config: Config, store: Store) -> AsyncIterator[MacroAgent]:
    """A macro agent for `config.env` publishing to `store`; its collectors close on exit."""
    from quartz_cli.sources.factory import open_collectors

    reporter, reason = macro_reporter(config)
    wired = open_collectors(config)
    try:
        yield MacroAgent(store, wired.collectors, env=config.env.value,
                         sample_data=wired.sample_data, reporter=reporter, rules=rule_view,
                         no_llm_reason=reason)
    finally:
        await wired.aclose()
