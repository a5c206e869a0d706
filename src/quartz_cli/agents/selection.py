"""The stock selection agent: news crawl → ticker matching → sentiment → score → candidates.

`run_selection` is the use case; `latest_candidates` is how other agents read its output.
Runs are scheduled at 00:00 and 12:00 KST (the CronJob belongs to the deployment)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from quartz_cli.agents.documents import Loaded, publish, read_latest
from quartz_cli.domain.candidates import (
    PREFIX,
    ArticleRef,
    Candidate,
    CandidatesDocument,
    NewsSourceStatus,
    ScoreComponents,
    SourceState,
)
from quartz_cli.domain.documents import utcnow
from quartz_cli.domain.matching import TickerMatcher
from quartz_cli.domain.scoring import WEIGHTS, TickerEvidence, rank
from quartz_cli.domain.universe import Universe, bundled_universe, load_universe_csv
from quartz_cli.errors import SourceError, StoreError
from quartz_cli.ports import (
    Article,
    CrawlProgress,
    NewsFeed,
    SentimentRequest,
    SentimentScorer,
    Store,
    Verdict,
)

log = logging.getLogger(__name__)

TOP_ARTICLES = 3
UNIVERSE_FILE = "universe.csv"


def selection_universe(home: Path) -> Universe:
    """`$QUARTZ_HOME/universe.csv` when the user refreshed it from KIS master files
    (`quartz select universe`), else the bundled one."""
    path = home / UNIVERSE_FILE
    return load_universe_csv(path) if path.exists() else bundled_universe()


@dataclass
class SelectionDeps:
    """What a selection run talks to; the composition root wires real or in-process
    adapters."""

    news: NewsFeed
    sentiment: SentimentScorer
    universe: Universe
    store: Store
    pending_dir: Path
    env: str
    synthetic_news: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class SelectionResult:
    document: CandidatesDocument
    key: str | None
    fallback_path: Path | None
    uploaded_pending: list[str]
    store_error: str | None = None


def _requests(articles: list[Article], matcher: TickerMatcher,
              universe: Universe) -> tuple[list[SentimentRequest], dict[str, Article],
                                           dict[str, set[str]]]:
    """Sentiment requests for articles that name at least one listed company, plus the
    codes named in each article's headline."""
    reqs, by_id, in_title = [], {}, {}
    for a in articles:
        sentences = matcher.codes_in(a.title, a.text)
        if not sentences:
            continue
        names = {c: universe.require(c).name for c in sentences}
        reqs.append(SentimentRequest(article_id=a.id, title=a.title, text=a.text,
                                     tickers=names, sentences=sentences))
        by_id[a.id] = a
        in_title[a.id] = {m.code for m in matcher.find(a.title)}
    return reqs, by_id, in_title


def _candidates(verdicts: list[Verdict], by_id: dict[str, Article],
                reqs: dict[str, SentimentRequest], in_title: dict[str, set[str]],
                universe: Universe, watchlist: set[str], limit: int) -> list[Candidate]:
    per_code: dict[str, list[Verdict]] = {}
    for v in verdicts:
        per_code.setdefault(v.code, []).append(v)
    evidence = [TickerEvidence(
        code=code, tier=universe.require(code).tier,
        sentiments=tuple(v.score for v in vs),
        headline_mentions=sum(1 for v in vs if code in in_title[v.article_id]),
        watchlisted=code in watchlist) for code, vs in per_code.items()]
    out = []
    for i, (ev, comp, final) in enumerate(rank(evidence)[:limit], start=1):
        listing = universe.require(ev.code)
        vs = sorted(per_code[ev.code], key=lambda v: (
            -abs(v.score), -(by_id[v.article_id].published_at or utcnow()).timestamp()))
        refs = []
        for v in vs[:TOP_ARTICLES]:
            a = by_id[v.article_id]
            sents = reqs[v.article_id].sentences.get(ev.code) or [a.title]
            refs.append(ArticleRef(title=a.title, url=a.url, source=a.source,
                                   also_in=list(a.also_in), published_at=a.published_at,
                                   sentiment=v.score, reason=v.reason, engine=v.engine,
                                   sentence=sents[0][:300]))
        out.append(Candidate(
            rank=i, code=ev.code, name=listing.name, market=listing.market,
            tier=listing.tier.value, sector=listing.sector, score=final,
            components=ScoreComponents(market_cap_tier=comp.market_cap_tier,
                                       sentiment=comp.sentiment,
                                       news_count_norm=comp.news_count_norm,
                                       priority=comp.priority),
            news_count=ev.news_count, top_articles=refs))
    return out


async def run_selection(deps: SelectionDeps, *, now: datetime, window_hours: float = 24.0,
                        limit: int = 20, watchlist: tuple[str, ...] = (),
                        progress: CrawlProgress | None = None) -> SelectionResult:
    """Crawl, match, rate and rank; publish under `candidates/` (or to the local fallback
    when the store is unreachable). SourceError when no source produced any article."""
    since = now - timedelta(hours=window_hours)
    crawl = await deps.news.crawl(since, progress)
    failed = [r for r in crawl.reports if r.status not in (SourceState.FRESH, SourceState.STALE)]
    if not crawl.articles and failed:
        raise SourceError("no news source produced articles: " + "; ".join(
            f"{r.source} {r.status} ({r.error})" for r in failed))

    matcher = TickerMatcher(deps.universe)
    reqs, by_id, in_title = _requests(crawl.articles, matcher, deps.universe)
    if progress is not None:
        progress("sentiment", 0, 1)
    outcome = await deps.sentiment.score(reqs)
    if progress is not None:
        progress("sentiment", 1, 1)
    candidates = _candidates(outcome.verdicts, by_id, {r.article_id: r for r in reqs},
                             in_title, deps.universe, set(watchlist), limit)
    notes = list(deps.notes) + outcome.notes
    if deps.synthetic_news:
        notes.append("news is the bundled SYNTHETIC sample corpus (local environment)")
    doc = CandidatesDocument(
        produced_at=utcnow(), env=deps.env, weights=dict(WEIGHTS),
        sentiment_engines=outcome.engines, window_hours=window_hours,
        universe_size=len(deps.universe), articles=len(crawl.articles),
        articles_matched=len(reqs), duplicates_dropped=crawl.duplicates,
        llm_items_dropped=outcome.dropped,
        sources=[NewsSourceStatus(source=r.source, status=r.status, articles=r.articles,
                                  error=r.error, notes=sorted(set(r.notes))[:5])
                 for r in crawl.reports],
        candidates=candidates, synthetic_news=deps.synthetic_news, notes=notes)
    return await asyncio.to_thread(publish_with_fallback, deps.store, doc, deps.pending_dir)


def _pending_files(pending_dir: Path) -> list[Path]:
    return sorted(pending_dir.glob("*.json")) if pending_dir.is_dir() else []


def publish_with_fallback(store: Store, doc: CandidatesDocument,
                          pending_dir: Path) -> SelectionResult:
    """Upload documents left over from runs that could not reach the store (oldest first),
    then this one. If the store fails, keep this document as a local file for the next run."""
    uploaded: list[str] = []
    try:
        for path in _pending_files(pending_dir):
            old = CandidatesDocument.model_validate_json(path.read_bytes())
            uploaded.append(publish(store, PREFIX, old))
            path.unlink()
        key = publish(store, PREFIX, doc)
        return SelectionResult(doc, key, None, uploaded)
    except StoreError as exc:
        pending_dir.mkdir(parents=True, exist_ok=True)
        path = pending_dir / f"{doc.produced_at:%Y%m%dT%H%M%S%fZ}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(doc.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(path)
        log.warning("store unreachable; candidates kept at %s", path)
        return SelectionResult(doc, None, path, uploaded, store_error=exc.message)


def latest_candidates(store: Store, *, now: datetime | None = None
                      ) -> Loaded[CandidatesDocument] | None:
    """The newest published candidates (with their age), or None when there are none.

    Other agents (portfolio) call this; check `loaded.is_stale(...)` before trusting it."""
    return read_latest(store, PREFIX, CandidatesDocument, now=now)


def newest_pending(pending_dir: Path) -> CandidatesDocument | None:
    """The newest candidates kept locally because the store was unreachable."""
    files = _pending_files(pending_dir)
    return CandidatesDocument.model_validate_json(files[-1].read_bytes()) if files else None
