"""Naver Finance news: the real-time list (`news_list.naver`, EUC-KR) and article pages
(`n.news.naver.com/mnews/article/{office_id}/{article_id}`, UTF-8).

Selectors follow the page structure third-party scrapers document (no official spec): list
items under `ul.realtimeNewsList` as `dd|dt.articleSubject > a` with the next
`dd.articleSummary` holding `span.press` and `span.wdate`; the article page has
`h2#title_area`, `article#dic_area` and `span.media_end_head_info_datestamp_time[data-date-time]`.
Naver's robots.txt and terms restrict crawling: the fetcher obeys robots.txt, so this source
reports `blocked` where Naver forbids the path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urljoin, urlsplit

from lxml import html as lxml_html
from lxml.etree import ParserError

from quartz_cli.domain.krx import KST
from quartz_cli.errors import SourceError
from quartz_cli.ports import Article, SourceReport
from quartz_cli.sources.news.fetch import FetchError, PoliteFetcher
from quartz_cli.sources.news.text import clean_text

FINANCE_BASE = "https://finance.naver.com"
ARTICLE_BASE = "https://n.news.naver.com"


def _has_class(tag: str, cls: str) -> str:
    return f"{tag}[contains(concat(' ', normalize-space(@class), ' '), ' {cls} ')]"


@dataclass(frozen=True)
class ListItem:
    url: str
    title: str
    summary: str
    press: str
    published_at: datetime | None


def _kst(text: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), fmt).replace(tzinfo=KST)
    except ValueError:
        return None


def parse_list(page_html: str, page_url: str, article_base: str = ARTICLE_BASE) -> list[ListItem]:
    """Items of a real-time news list page. SourceError if the page is not such a list."""
    try:
        doc = lxml_html.fromstring(page_html)
    except (ParserError, ValueError):
        raise SourceError("Naver list page is not HTML") from None
    lists = doc.xpath("//" + _has_class("ul", "realtimeNewsList"))
    if not lists:
        raise SourceError("Naver list page has no ul.realtimeNewsList (page structure changed?)")
    items = []
    for subject in lists[0].xpath(".//" + _has_class("*", "articleSubject")):
        links = subject.xpath("./a[@href]")
        if not links:
            continue
        a = links[0]
        title = clean_text(a.get("title") or a.text_content())
        summary_el = subject.getnext()
        while summary_el is not None and "articleSummary" not in (summary_el.get("class") or ""):
            if "articleSubject" in (summary_el.get("class") or ""):
                summary_el = None
                break
            summary_el = summary_el.getnext()
        press = wdate = summary = ""
        if summary_el is not None:
            press = clean_text(" ".join(summary_el.xpath(".//" + _has_class("span", "press")
                                                         + "//text()")))
            wdate = clean_text(" ".join(summary_el.xpath(".//" + _has_class("span", "wdate")
                                                         + "//text()")))
            summary = clean_text(" ".join(
                t for t in summary_el.xpath("./text()")))
        url = canonical_article_url(urljoin(page_url, a.get("href")), article_base)
        if url and title:
            items.append(ListItem(url=url, title=title, summary=summary, press=press,
                                  published_at=_kst(wdate, "%Y-%m-%d %H:%M")))
    return items


def canonical_article_url(link: str, article_base: str = ARTICLE_BASE) -> str | None:
    """`…news_read.naver?article_id=A&office_id=O…` → `{article_base}/mnews/article/O/A`."""
    parts = urlsplit(link)
    if "/mnews/article/" in parts.path:
        return f"{article_base}{parts.path}"
    q = parse_qs(parts.query)
    aid, oid = q.get("article_id", [""])[0], q.get("office_id", [""])[0]
    if not (aid.isdigit() and oid.isdigit()):
        return None
    return f"{article_base}/mnews/article/{oid}/{aid}"


def parse_article(page_html: str) -> tuple[str, str, datetime | None]:
    """(title, body, published_at) of an `n.news.naver.com` article page."""
    try:
        doc = lxml_html.fromstring(page_html)
    except (ParserError, ValueError):
        raise SourceError("Naver article page is not HTML") from None
    body = doc.xpath("//article[@id='dic_area']")
    if not body:
        raise SourceError("Naver article page has no article#dic_area")
    title = clean_text(" ".join(doc.xpath("//h2[@id='title_area']//text()")))
    stamps = doc.xpath("//" + _has_class("span", "media_end_head_info_datestamp_time")
                       + "/@data-date-time")
    published = _kst(stamps[0], "%Y-%m-%d %H:%M:%S") if stamps else None
    for br in body[0].iter("br"):
        br.tail = "\n" + (br.tail or "")
    return title, clean_text(body[0].text_content()), published


class NaverFinanceSource:
    """Naver Finance's real-time news list (증권 > 실시간 속보), then each article's page."""

    name = "naver"

    def __init__(self, *, finance_base: str = FINANCE_BASE, article_base: str = ARTICLE_BASE,
                 max_pages: int = 3, max_articles: int = 40) -> None:
        self.finance_base = finance_base.rstrip("/")
        self.article_base = article_base.rstrip("/")
        self.max_pages = max_pages
        self.max_articles = max_articles

    def list_url(self, page: int) -> str:
        return (f"{self.finance_base}/news/news_list.naver?mode=LSS2D&section_id=101"
                f"&section_id2=258&page={page}")

    async def crawl(self, fetcher: PoliteFetcher, since: datetime, report: SourceReport,
                    progress: Callable[[int, int], None]) -> list[Article]:
        """List pages until items are older than `since`, then the articles themselves."""
        referer = {"Referer": f"{self.finance_base}/news/"}
        items: list[ListItem] = []
        for page in range(1, self.max_pages + 1):
            listing = await fetcher.get(self.list_url(page), headers=referer)
            found = parse_list(listing.text, listing.url, self.article_base)
            fresh = [x for x in found if x.published_at is None or x.published_at >= since]
            items += fresh
            progress(page, self.max_pages)
            if len(fresh) < len(found) or not found:
                break
        items = items[: self.max_articles]

        done = 0

        async def one(item: ListItem) -> Article:
            nonlocal done
            text, published = item.summary, item.published_at
            try:
                page = await fetcher.get(item.url, headers=referer)
                _, body, stamp = parse_article(page.text)
                text, published = body or text, stamp or published
            except (FetchError, SourceError) as exc:
                report.notes.append(f"article kept as list summary ({exc.message})")
            done += 1
            progress(done, len(items))
            return Article(source=self.name, url=item.url, title=item.title, text=text,
                           published_at=published, press=item.press)

        return list(await asyncio.gather(*(one(x) for x in items)))
