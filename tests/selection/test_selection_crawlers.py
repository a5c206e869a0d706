"""The news crawlers against fake sites on loopback (real HTTP, each site's page structure)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fakes.news_sites import all_sites_app, art, failing_app, garbage_app, sources_at
from fakes.server import LoopbackServer
from quartz_cli.sources.news import fakes
from quartz_cli.sources.news.crawl import crawl_all
from quartz_cli.sources.news.dedup import canonical_url
from quartz_cli.sources.news.fetch import PoliteFetcher, decode_body
from quartz_cli.sources.news.naver import NaverFinanceSource, parse_list
from quartz_cli.sources.news.text import normalize_title

SINCE = timedelta(hours=24)

ARTICLES = [
    art("naver", "셀트리온, 신약 유럽 판매 승인 획득",
        "셀트리온이 유럽 판매 승인을 받았다. 출시는 내년이다.", n=1),
    art("naver", "[속보] 카카오, 사법 리스크에 약세", "카카오 주가가 약세를 보였다.", n=2, age=50),
    art("naver", "오래된 기사: 기아 판매 호조", "기아 판매가 늘었다.", n=3, age=60 * 30),
    art("hankyung", "카카오, 사법 리스크에 약세",
        "카카오 주가가 약세를 보였다. 불확실성이 크다.", n=4),
    art("hankyung", "KB금융, 자사주 매입 확대", "KB금융이 자사주 매입을 결정했다.", n=5),
    art("maeil", "[단독] 카카오 사법 리스크에 약세!", "카카오가 약세.", n=6),
    art("maeil", "알테오젠, 기술이전 계약 체결", "알테오젠이 계약을 체결했다.", n=7),
]


def crawl(sources, *, delay: float = 0.0):
    async def go():
        async with httpx.AsyncClient(timeout=5) as client:
            fetcher = PoliteFetcher(client, per_host_delay_s=delay)
            return await crawl_all(sources, fetcher, datetime.now(UTC) - SINCE)
    return asyncio.run(go())


def test_euc_kr_list_page_is_decoded_and_parsed() -> None:
    now = datetime.now(UTC)
    page = fakes.naver_list_html([a for a in ARTICLES if a.site == "naver"], now, 1)
    raw = page.encode("euc-kr")
    assert "셀트리온".encode() not in raw  # really EUC-KR bytes, not UTF-8
    text = decode_body(raw, "text/html; charset=EUC-KR")
    items = parse_list(text, "https://finance.naver.com/news/news_list.naver?page=1")
    assert [i.title for i in items][:2] == ["셀트리온, 신약 유럽 판매 승인 획득",
                                            "[속보] 카카오, 사법 리스크에 약세"]
    assert items[0].url == "https://n.news.naver.com/mnews/article/001/0009000001"
    assert items[0].press == "테스트" and items[0].published_at is not None
    # Without a charset in the header, the <meta> declaration decides.
    assert decode_body(raw, "text/html") == text


def test_all_sources_crawl_and_duplicates_collapse_across_sources() -> None:
    with LoopbackServer(all_sites_app(ARTICLES, "https://news.example")) as site:
        result = crawl(sources_at(site.url))
    by_source = {r.source: r for r in result.reports}
    assert all(r.status == "fresh" for r in by_source.values())
    assert by_source["naver"].articles == 2  # the 30-hour-old article is outside the window
    assert by_source["hankyung"].articles == 2 and by_source["maeil"].articles == 2
    titles = [a.title for a in result.articles]
    # The Kakao story ran on all three sites under different tags and punctuation.
    kakao = [a for a in result.articles if "카카오" in a.title]
    assert len(kakao) == 1 and sorted(kakao[0].also_in) == ["hankyung", "maeil"]
    assert result.duplicates == 2
    assert len(titles) == 4
    assert all(a.url.startswith(("https://news.example/", site.url)) for a in result.articles)
    # Naver article bodies come from the UTF-8 article pages, not the list summary.
    celltrion = next(a for a in result.articles if a.title.startswith("셀트리온"))
    assert celltrion.text == "셀트리온이 유럽 판매 승인을 받았다. 출시는 내년이다."


def test_failing_and_garbage_sites_are_reported_and_skipped() -> None:
    with LoopbackServer(all_sites_app(ARTICLES, "http://x")) as good, \
            LoopbackServer(failing_app(500)) as bad, LoopbackServer(garbage_app()) as junk:
        result = crawl(sources_at(good.url, hankyung_base=bad.url, naver_base=junk.url))
    by_source = {r.source: r for r in result.reports}
    assert by_source["hankyung"].status == "unreachable"
    assert "HTTP 500" in (by_source["hankyung"].error or "")
    assert by_source["naver"].status == "failed"
    assert "realtimeNewsList" in (by_source["naver"].error or "")
    assert by_source["maeil"].status == "fresh" and by_source["maeil"].articles == 2
    assert {a.source for a in result.articles} == {"maeil"}


def test_garbage_feed_is_a_source_failure() -> None:
    with LoopbackServer(garbage_app()) as junk:
        result = crawl(sources_at(junk.url)[1:2])
    assert result.reports[0].status == "failed"
    assert "not well-formed XML" in (result.reports[0].error or "")


def test_robots_txt_is_obeyed_and_user_agent_is_sent() -> None:
    seen: list[str] = []

    async def robots(request: Request) -> Response:
        seen.append(request.headers.get("user-agent", ""))
        return Response("User-agent: *\nDisallow: /news/\nAllow: /\n", media_type="text/plain")

    async def listing(request: Request) -> Response:
        raise AssertionError("a disallowed page was fetched")

    app = Starlette(routes=[Route("/robots.txt", robots),
                            Route("/news/news_list.naver", listing)])
    with LoopbackServer(app) as srv:
        result = crawl([NaverFinanceSource(finance_base=srv.url, article_base=srv.url)])
    report = result.reports[0]
    assert report.status == "forbidden" and "robots.txt" in (report.error or "")
    assert seen and "QuartzNewsBot" in seen[0]


def test_robots_txt_server_error_is_an_outage_and_nothing_is_crawled() -> None:
    async def down(request: Request) -> Response:
        return Response("", status_code=503)

    app = Starlette(routes=[Route("/{path:path}", down)])
    with LoopbackServer(app) as srv:
        result = crawl(sources_at(srv.url)[2:])
    # RFC 9309: nothing is crawled while robots.txt is down; but it is an outage, not a ban.
    assert result.reports[0].status == "unreachable"
    assert "robots.txt" in (result.reports[0].error or "") and "HTTP 503" in (
        result.reports[0].error or "")
    assert result.articles == []


def test_url_and_title_normalisation() -> None:
    assert canonical_url("HTTPS://WWW.MK.CO.KR/news/1/?utm_source=x&b=2&a=1#top") == \
        "https://www.mk.co.kr/news/1?a=1&b=2"
    assert normalize_title("[속보] 카카오, 사법 리스크에 약세!") == \
        normalize_title("카카오 사법 리스크에 약세")


def test_local_mounts_serve_the_synthetic_corpus_and_refuse_other_hosts() -> None:
    label, articles = fakes.corpus()
    assert "SYNTHETIC" in label and len(articles) >= 30

    async def go():
        async with httpx.AsyncClient(mounts=fakes.local_mounts(lambda: datetime.now(UTC))) as c:
            naver = await c.get("https://finance.naver.com/news/news_list.naver?page=1")
            other = await c.get("https://example.com/")
            return naver, other
    naver, other = asyncio.run(go())
    assert naver.headers["content-type"].endswith("euc-kr")
    assert "실시간 속보".encode("euc-kr") in naver.content
    assert other.status_code == 502 and "no network" in other.text


def _run(tmp_path, sources):
    from quartz_cli.agents.selection import SelectionDeps, run_selection
    from quartz_cli.domain.universe import bundled_universe
    from quartz_cli.llm.news_sentiment import LexiconSentiment
    from quartz_cli.sources.news.feed import CrawlingFeed
    from quartz_cli.store.local import LocalStore

    async def go():
        async with httpx.AsyncClient(timeout=5) as http:
            feed = CrawlingFeed(sources, PoliteFetcher(http, per_host_delay_s=0))
            deps = SelectionDeps(news=feed,
                                 sentiment=LexiconSentiment("test"), universe=bundled_universe(),
                                 store=LocalStore(tmp_path / "store"),
                                 pending_dir=tmp_path / "pending", env="paper")
            return await run_selection(deps, now=datetime.now(UTC))
    return asyncio.run(go())


def test_selection_survives_broken_sites_and_reports_them(tmp_path) -> None:
    with LoopbackServer(all_sites_app(ARTICLES, "http://x")) as good, \
            LoopbackServer(failing_app(500)) as bad, LoopbackServer(garbage_app()) as junk:
        result = _run(tmp_path, sources_at(good.url, hankyung_base=bad.url, naver_base=junk.url))
    doc = result.document
    assert {s.source: s.status for s in doc.sources} == {
        "naver": "failed", "hankyung": "unreachable", "maeil": "fresh"}
    assert [c.code for c in doc.candidates] == ["196170", "035720"]  # 알테오젠 +, 카카오 −
    assert result.key is not None


def test_no_source_at_all_is_an_error_and_nothing_is_published(tmp_path) -> None:
    import pytest

    from quartz_cli.errors import SourceError

    with LoopbackServer(failing_app(500)) as bad, \
            pytest.raises(SourceError, match="no news source produced articles"):
            _run(tmp_path, sources_at(bad.url))
    assert not (tmp_path / "store").exists()


def test_a_site_that_does_not_answer_is_unreachable_not_forbidden() -> None:
    from fakes.server import free_port

    # Nothing listens: robots.txt cannot be read, which is an outage, not a policy.
    result = crawl(sources_at(f"http://127.0.0.1:{free_port()}")[1:2])
    report = result.reports[0]
    assert report.status == "unreachable"
    assert "robots.txt" in (report.error or "") and "unreachable" in (report.error or "")
    assert result.articles == []


def test_a_source_with_nothing_new_in_the_window_is_stale() -> None:
    old = [a for a in ARTICLES if a.site == "hankyung"]
    old = [art("hankyung", a.title, a.body, n=10 + i, age=60 * 30) for i, a in enumerate(old)]
    with LoopbackServer(all_sites_app(old, "http://x")) as site:
        result = crawl(sources_at(site.url)[1:2])
    assert [(r.status, r.articles, r.error) for r in result.reports] == [("stale", 0, None)]
