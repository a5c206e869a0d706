"""In-process stand-ins for the news sites, serving the bundled SYNTHETIC corpus in each
site's real page structure (EUC-KR Naver Finance lists, UTF-8 Naver article pages, RSS 2.0
feeds). `local` mounts them on an httpx client so the real crawlers run unchanged; tests serve
the same apps (or ones built from their own articles) from loopback.

Dates are rendered relative to the request time (`age_minutes` in the corpus), so the sample
news is always recent."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from functools import lru_cache
from html import escape
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quartz_cli.domain.krx import KST

Clock = Callable[[], datetime]

ROBOTS_ALLOW = "User-agent: *\nAllow: /\n"
NAVER_PAGE_SIZE = 10


@dataclass(frozen=True)
class FakeArticle:
    """One article of a fake site (`site`: naver, hankyung or maeil)."""

    site: str
    title: str
    body: str
    press: str
    age_minutes: int
    office_id: str = ""
    article_id: str = ""
    slug: str = ""
    path: str = ""
    feed: str = ""


@lru_cache(maxsize=1)
def corpus() -> tuple[str, tuple[FakeArticle, ...]]:
    """(label, articles) of the bundled synthetic corpus."""
    ref = resources.files("quartz_cli.data.news") / "corpus.json"
    data = json.loads(ref.read_text(encoding="utf-8"))
    return data["label"], tuple(FakeArticle(**a) for a in data["articles"])


def _published(a: FakeArticle, now: datetime) -> datetime:
    return now - timedelta(minutes=a.age_minutes)


def _plain(text: str) -> str:
    """Body text without the HTML paragraphs RSS descriptions may carry."""
    return re.sub(r"<[^>]+>", " ", text)


def naver_list_html(articles: list[FakeArticle], now: datetime, page: int) -> str:
    """A `news_list.naver?mode=LSS2D` page: `ul.realtimeNewsList`, newest first."""
    items = sorted(articles, key=lambda a: a.age_minutes)
    chunk = items[(page - 1) * NAVER_PAGE_SIZE: page * NAVER_PAGE_SIZE]
    rows = []
    for a in chunk:
        href = (f"/news/news_read.naver?article_id={a.article_id}&office_id={a.office_id}"
                f"&mode=LSS2D&type=0&section_id=101&section_id2=258&section_id3=&page={page}")
        when = _published(a, now).astimezone(KST).strftime("%Y-%m-%d %H:%M")
        summary = escape(_plain(a.body)[:80])
        rows.append(
            '<li class="newsList top"><dl>'
            f'<dd class="articleSubject"><a href="{escape(href)}" title="{escape(a.title)}">'
            f'{escape(a.title)}</a></dd>'
            f'<dd class="articleSummary">{summary}'
            f'<span class="press">{escape(a.press)}</span><span class="bar">|</span>'
            f'<span class="wdate">{when}</span></dd>'
            '</dl></li>')
    return ('<!DOCTYPE html><html lang="ko"><head>'
            '<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">'
            '<title>실시간 속보 : 네이버 금융</title></head><body>'
            '<div id="contentarea_left"><div class="hotNewsList">'
            f'<ul class="realtimeNewsList _replaceNewsLink">{"".join(rows)}</ul>'
            f'<table class="Nnavi"><tr><td class="on"><a href="#">{page}</a></td></tr></table>'
            '</div></div></body></html>')


def naver_article_html(a: FakeArticle, now: datetime) -> str:
    """An `n.news.naver.com/mnews/article/...` page."""
    stamp = _published(a, now).astimezone(KST).strftime("%Y-%m-%d %H:%M:%S")
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", _plain(a.body)) if s.strip()]
    paragraphs = "<br><br>".join(escape(s) for s in sentences)
    return ('<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8">'
            f'<title>{escape(a.title)}</title></head><body><div class="media_end_head">'
            f'<h2 id="title_area" class="media_end_head_headline"><span>{escape(a.title)}</span>'
            '</h2><div class="media_end_head_info_datestamp">'
            '<span class="media_end_head_info_datestamp_time _ARTICLE_DATE_TIME" '
            f'data-date-time="{stamp}">{stamp}</span></div></div>'
            f'<div id="newsct_article"><article id="dic_area" class="go_trans _article_content">'
            f'{paragraphs}</article></div></body></html>')


def rss_xml(title: str, link: str, items: list[tuple[FakeArticle, str]], now: datetime) -> str:
    """An RSS 2.0 channel; `items` pairs each article with its link."""
    out = []
    for a, url in items:
        out.append(
            f"<item><title><![CDATA[{a.title}]]></title><link>{escape(url)}</link>"
            f"<description><![CDATA[{a.body}]]></description>"
            f"<author>{escape(a.press)}</author>"
            f"<pubDate>{format_datetime(_published(a, now).astimezone(KST))}</pubDate>"
            f"<guid isPermaLink=\"true\">{escape(url)}</guid></item>")
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{escape(link)}</link>"
            f"<language>ko</language>{''.join(out)}</channel></rss>")


def _robots(robots: str) -> Route:
    async def handler(request: Request) -> Response:
        return Response(robots, media_type="text/plain")
    return Route("/robots.txt", handler)


def naver_finance_app(articles: list[FakeArticle], clock: Clock, *,
                      encoding: str = "euc-kr", robots: str = ROBOTS_ALLOW) -> Starlette:
    """finance.naver.com: the real-time list, EUC-KR like the real site."""

    async def news_list(request: Request) -> Response:
        page = int(request.query_params.get("page", "1") or 1)
        body = naver_list_html([a for a in articles if a.site == "naver"], clock(), page)
        return Response(body.encode(encoding), media_type=f"text/html; charset={encoding}")

    return Starlette(routes=[_robots(robots), Route("/news/news_list.naver", news_list)])


def naver_article_app(articles: list[FakeArticle], clock: Clock, *,
                      robots: str = ROBOTS_ALLOW) -> Starlette:
    """n.news.naver.com: article pages, UTF-8."""
    by_key = {(a.office_id, a.article_id): a for a in articles if a.site == "naver"}

    async def article(request: Request) -> Response:
        a = by_key.get((request.path_params["office"], request.path_params["aid"]))
        if a is None:
            return Response("not found", status_code=404)
        return Response(naver_article_html(a, clock()), media_type="text/html; charset=utf-8")

    return Starlette(routes=[_robots(robots),
                             Route("/mnews/article/{office}/{aid}", article)])


def hankyung_app(articles: list[FakeArticle], clock: Clock, base: str,
                 *, robots: str = ROBOTS_ALLOW) -> Starlette:
    """www.hankyung.com: `/feed/finance` and `/feed/economy`."""
    mine = [a for a in articles if a.site == "hankyung"]

    def feed(section: str) -> Route:
        async def handler(request: Request) -> Response:
            chosen = [(a, f"{base}/article/{a.slug}") for a in mine
                      if (a.feed or "finance") == section]
            xml = rss_xml(f"한국경제 | {section}", f"{base}/{section}", chosen, clock())
            return Response(xml.encode(), media_type="application/rss+xml; charset=utf-8")
        return Route(f"/feed/{section}", handler)

    return Starlette(routes=[_robots(robots), feed("finance"), feed("economy")])


def maeil_app(articles: list[FakeArticle], clock: Clock, base: str,
              *, robots: str = ROBOTS_ALLOW) -> Starlette:
    """www.mk.co.kr: `/rss/50200011/` (증권) and `/rss/30100041/` (경제)."""
    mine = [a for a in articles if a.site == "maeil"]

    def feed(code: str) -> Route:
        async def handler(request: Request) -> Response:
            chosen = [(a, f"{base}/news/stock/{a.path}") for a in mine
                      if (a.feed or "50200011") == code]
            xml = rss_xml(f"매일경제 : {code}", base, chosen, clock())
            return Response(xml.encode(), media_type="text/xml; charset=utf-8")
        return Route(f"/rss/{code}/", handler)

    return Starlette(routes=[_robots(robots), feed("50200011"), feed("30100041")])


def local_mounts(clock: Clock) -> dict[str, Any]:
    """httpx mounts routing the real sites' hosts to the fakes serving the bundled corpus."""
    import httpx

    _, articles = corpus()
    arts = list(articles)
    apps = {
        "finance.naver.com": naver_finance_app(arts, clock),
        "n.news.naver.com": naver_article_app(arts, clock),
        "www.hankyung.com": hankyung_app(arts, clock, "https://www.hankyung.com"),
        "www.mk.co.kr": maeil_app(arts, clock, "https://www.mk.co.kr"),
    }
    mounts: dict[str, Any] = {f"https://{host}": httpx.ASGITransport(app=app)
                              for host, app in apps.items()}
    # Any other host answers 502 in-process: `local` never reaches the network.
    mounts["all://"] = httpx.ASGITransport(app=_no_network_app())
    return mounts


def _no_network_app() -> Starlette:
    async def refuse(request: Request) -> Response:
        return Response(f"local environment: no network access to {request.url.netloc}",
                        status_code=502)
    return Starlette(routes=[Route("/{path:path}", refuse)])
