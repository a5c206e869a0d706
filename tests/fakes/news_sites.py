"""Fake news sites on loopback for the crawler tests: the same page renderers `local` uses,
built from a test's own articles, plus sites that misbehave (HTTP 500, garbage HTML)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quartz_cli.sources.news import fakes, rss
from quartz_cli.sources.news.fakes import FakeArticle
from quartz_cli.sources.news.naver import NaverFinanceSource


def now_utc() -> datetime:
    return datetime.now(UTC)


def all_sites_app(articles: list[FakeArticle], base: str, *,
                  clock: Callable[[], datetime] = now_utc, robots: str = fakes.ROBOTS_ALLOW,
                  naver_encoding: str = "euc-kr") -> Starlette:
    """Naver list + Naver articles + Hankyung + Maeil feeds on one host."""
    apps = [fakes.naver_finance_app(articles, clock, encoding=naver_encoding, robots=robots),
            fakes.naver_article_app(articles, clock),
            fakes.hankyung_app(articles, clock, base),
            fakes.maeil_app(articles, clock, base)]
    routes = [apps[0].routes[0]]
    for app in apps:
        routes += [r for r in app.routes if getattr(r, "path", "") != "/robots.txt"]
    return Starlette(routes=routes)


def sources_at(base: str, *, naver_base: str | None = None, hankyung_base: str | None = None,
               maeil_base: str | None = None) -> list:
    """The real crawlers pointed at loopback hosts."""
    nb = naver_base or base
    return [NaverFinanceSource(finance_base=nb, article_base=nb),
            rss.hankyung(hankyung_base or base), rss.maeil(maeil_base or base)]


def failing_app(status: int = 500) -> Starlette:
    """A site whose every page (robots.txt aside) answers `status`."""

    async def robots(request: Request) -> Response:
        return Response(fakes.ROBOTS_ALLOW, media_type="text/plain")

    async def fail(request: Request) -> Response:
        return Response("upstream error", status_code=status)

    return Starlette(routes=[Route("/robots.txt", robots),
                             Route("/{path:path}", fail)])


def garbage_app() -> Starlette:
    """A site that answers 200 with HTML/XML of no recognisable structure."""

    async def robots(request: Request) -> Response:
        return Response(fakes.ROBOTS_ALLOW, media_type="text/plain")

    async def junk(request: Request) -> Response:
        return Response(b"<html><body><div>\xff\xfe maintenance <<<>>> </body>",
                        media_type="text/html")

    return Starlette(routes=[Route("/robots.txt", robots), Route("/{path:path}", junk)])


def art(site: str, title: str, body: str, *, age: int = 30, n: int = 1, press: str = "테스트",
        feed: str = "") -> FakeArticle:
    """A test article; `n` makes ids, slugs and paths unique."""
    return FakeArticle(site=site, title=title, body=body, press=press, age_minutes=age,
                       office_id="001", article_id=f"{9000000 + n:010d}", slug=f"t{n}",
                       path=f"{700 + n}", feed=feed)
