"""Composition root, selection agent: news sources, fetcher, sentiment engine
and store for the configured environment.

`local` crawls the bundled SYNTHETIC corpus through in-process fake sites and rates it with
the offline lexicon. `paper`/`prod` crawl the real sites (robots.txt obeyed) and use Gemini
when `GEMINI_API_KEY` is set, else the lexicon (and say so)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from quartz_cli.agents.selection import SelectionDeps, selection_universe
from quartz_cli.app.runtime import open_store
from quartz_cli.config import Config, Env
from quartz_cli.llm.news_sentiment import GeminiSentiment, LexiconSentiment
from quartz_cli.ports import SentimentScorer, Store
from quartz_cli.sources.news import rss
from quartz_cli.sources.news.crawl import NewsSource
from quartz_cli.sources.news.feed import CrawlingFeed
from quartz_cli.sources.news.fetch import PoliteFetcher
from quartz_cli.sources.news.naver import NaverFinanceSource


@dataclass
class SelectionRuntime:
    deps: SelectionDeps
    http: httpx.AsyncClient

    async def __aenter__(self) -> SelectionRuntime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()


def open_selection(config: Config, *, store: Store | None = None) -> SelectionRuntime:
    """Wire a selection run for `config.env` (publishing to `store`, else the configured
    one)."""
    s = config.settings.news
    names = s.source_names()
    timeout = httpx.Timeout(config.settings.broker.http_timeout_s, connect=5.0)
    local = config.env is Env.LOCAL
    notes: list[str] = []
    if local:
        from quartz_cli.sources.news.fakes import local_mounts

        http = httpx.AsyncClient(mounts=local_mounts(config.market_now), timeout=timeout)
        fetcher = PoliteFetcher(http, per_host_delay_s=0.0)
    else:
        http = httpx.AsyncClient(timeout=timeout)
        fetcher = PoliteFetcher(http, per_host_delay_s=s.delay_s)
    all_sources: dict[str, NewsSource]
    if s.base_url and not local:
        b = s.base_url
        all_sources = {"naver": NaverFinanceSource(finance_base=b, article_base=b),
                       "hankyung": rss.hankyung(b), "maeil": rss.maeil(b)}
        notes.append(f"news sites read through {b} (QUARTZ_NEWS_BASE_URL)")
    else:
        all_sources = {"naver": NaverFinanceSource(), "hankyung": rss.hankyung(),
                       "maeil": rss.maeil()}
    key = config.settings.llm.gemini_api_key
    sentiment: SentimentScorer
    if local:
        sentiment = LexiconSentiment("the local environment uses no LLM")
    elif key is None:
        sentiment = LexiconSentiment("GEMINI_API_KEY is not set")
    else:
        from quartz_cli.llm.gemini import GeminiClient

        sentiment = GeminiSentiment(GeminiClient(key.get_secret_value(),
                                                 config.settings.llm.gemini_model,
                                                 base_url=config.settings.llm.gemini_base_url))
    deps = SelectionDeps(
        news=CrawlingFeed([all_sources[n] for n in names], fetcher), sentiment=sentiment,
        universe=selection_universe(config.home),
        store=store if store is not None else open_store(config),
        pending_dir=config.home / "pending" / config.env.value / "candidates",
        env=config.env.value, synthetic_news=local, notes=notes)
    return SelectionRuntime(deps=deps, http=http)
