"""RSS 2.0 feeds: Hankyung (`www.hankyung.com/feed/{section}`) and Maeil Business
(`www.mk.co.kr/rss/{section_code}/`). Items give title, link, description and pubDate; the
description (HTML stripped) stands in for the body: only headline, summary, link and time are
kept, as the feeds' reuse terms are unconfirmed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime

from lxml import etree
from lxml import html as lxml_html
from lxml.etree import ParserError

from quartz_cli.errors import SourceError
from quartz_cli.ports import Article, SourceReport
from quartz_cli.sources.news.fetch import PoliteFetcher
from quartz_cli.sources.news.text import clean_text

HANKYUNG_BASE = "https://www.hankyung.com"
MAEIL_BASE = "https://www.mk.co.kr"


def _strip_html(fragment: str) -> str:
    if "<" not in fragment:
        return clean_text(fragment)
    try:
        return clean_text(lxml_html.fromstring(f"<div>{fragment}</div>").text_content())
    except (ParserError, ValueError):
        return clean_text(fragment)


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo is not None else None


def parse_feed(content: bytes, source: str) -> list[Article]:
    """Items of an RSS 2.0 document. SourceError when it is not well-formed RSS.

    The parser never resolves entities or touches the network (no XXE)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False,
                             huge_tree=False)
    try:
        root = etree.fromstring(content, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"{source} feed is not well-formed XML ({exc.msg})") from None
    tag = str(root.tag)  # an element's tag is text; lxml's types also allow bytes
    if tag != "rss" or root.find("channel") is None:
        raise SourceError(f"{source} feed is not RSS 2.0 (root <{tag}>)")
    out = []
    for item in root.iter("item"):
        title = clean_text(item.findtext("title") or "")
        link = (item.findtext("link") or item.findtext("guid") or "").strip()
        if not title or not link.startswith(("http://", "https://")):
            continue
        out.append(Article(
            source=source, url=link, title=title,
            text=_strip_html(item.findtext("description") or ""),
            published_at=_date(item.findtext("pubDate")),
            press=clean_text(item.findtext("author") or ""),
        ))
    return out


class RssSource:
    """One outlet's RSS feeds."""

    def __init__(self, name: str, feed_urls: list[str]) -> None:
        self.name = name
        self.feed_urls = feed_urls

    async def crawl(self, fetcher: PoliteFetcher, since: datetime, report: SourceReport,
                    progress: Callable[[int, int], None]) -> list[Article]:
        """Every feed's items published since `since` (undated items are kept)."""
        out: list[Article] = []
        for i, url in enumerate(self.feed_urls, start=1):
            items = parse_feed(await fetcher.get_bytes(url), self.name)
            out += [a for a in items if a.published_at is None or a.published_at >= since]
            progress(i, len(self.feed_urls))
        return out


def hankyung(base: str = HANKYUNG_BASE) -> RssSource:
    """Hankyung's securities (증권) and economy feeds."""
    base = base.rstrip("/")
    return RssSource("hankyung", [f"{base}/feed/finance", f"{base}/feed/economy"])


def maeil(base: str = MAEIL_BASE) -> RssSource:
    """Maeil Business's securities (증권, 50200011) and economy (30100041) feeds."""
    base = base.rstrip("/")
    return RssSource("maeil", [f"{base}/rss/50200011/", f"{base}/rss/30100041/"])
