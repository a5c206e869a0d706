"""`CrawlingFeed`: the selection agent's `NewsFeed` port over the news site crawlers."""

from __future__ import annotations

from datetime import datetime

from quartz_cli.ports import CrawlProgress, CrawlResult
from quartz_cli.sources.news.crawl import NewsSource, crawl_all
from quartz_cli.sources.news.fetch import PoliteFetcher


class CrawlingFeed:
    """Crawls `sources` through one polite `fetcher` (robots.txt, per-host pacing)."""

    def __init__(self, sources: list[NewsSource], fetcher: PoliteFetcher) -> None:
        self.sources = sources
        self.fetcher = fetcher
        self.names = [s.name for s in sources]

    async def crawl(self, since: datetime, progress: CrawlProgress | None = None
                    ) -> CrawlResult:
        return await crawl_all(self.sources, self.fetcher, since, progress)
