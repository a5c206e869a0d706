"""Run every news source concurrently; a failing source is reported and skipped, with its
state: fresh, stale (answered, nothing new in the window), unreachable (an outage),
forbidden (robots.txt) or failed (it answered something unusable)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from quartz_cli.domain.candidates import SourceState
from quartz_cli.errors import SourceError
from quartz_cli.ports import Article, CrawlProgress, CrawlResult, SourceReport
from quartz_cli.sources.news.dedup import deduplicate
from quartz_cli.sources.news.fetch import PoliteFetcher, RobotsDisallowed, SourceUnreachable


class NewsSource(Protocol):
    name: str

    async def crawl(self, fetcher: PoliteFetcher, since: datetime, report: SourceReport,
                    progress: Callable[[int, int], None]) -> list[Article]:
        """The source's articles published since `since`."""


async def crawl_all(sources: list[NewsSource], fetcher: PoliteFetcher, since: datetime,
                    progress: CrawlProgress | None = None) -> CrawlResult:
    """Crawl all sources at once (the fetcher bounds concurrency and paces each host),
    then de-duplicate across them in the order the sources were given."""

    async def one(src: NewsSource) -> tuple[list[Article], SourceReport]:
        report = SourceReport(source=src.name)

        def step(done: int, total: int) -> None:
            if progress is not None:
                progress(src.name, done, total)

        try:
            found = await src.crawl(fetcher, since, report, step)
            report.status = SourceState.FRESH if found else SourceState.STALE
        except RobotsDisallowed as exc:
            report.status, report.error, found = SourceState.FORBIDDEN, exc.message, []
        except SourceUnreachable as exc:
            report.status, report.error, found = SourceState.UNREACHABLE, exc.message, []
        except SourceError as exc:
            report.status, report.error, found = SourceState.FAILED, exc.message, []
        report.articles = len(found)
        if progress is not None:
            progress(src.name, 1, 1)
        return found, report

    results = await asyncio.gather(*(one(s) for s in sources))
    merged = [a for found, _ in results for a in found]
    kept, dropped = deduplicate(merged)
    return CrawlResult(articles=kept, reports=[r for _, r in results], duplicates=dropped)
