"""De-duplication across sources: the same URL, or the same normalised headline."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from quartz_cli.ports import Article
from quartz_cli.sources.news.text import normalize_title

_TRACKING = ("utm_", "fbclid", "gclid")


def canonical_url(url: str) -> str:
    """Scheme and host lower-cased, fragment and tracking parameters dropped, query sorted,
    trailing slash removed."""
    p = urlsplit(url.strip())
    query = sorted((k, v) for k, v in parse_qsl(p.query, keep_blank_values=True)
                   if not k.lower().startswith(_TRACKING))
    path = p.path.rstrip("/") or "/"
    return urlunsplit((p.scheme.lower(), p.netloc.lower(), path, urlencode(query), ""))


def deduplicate(articles: list[Article]) -> tuple[list[Article], int]:
    """Keep the first of each duplicate group (sources are given in priority order) and
    record the other sources in its `also_in`. Returns (kept, number dropped)."""
    by_url: dict[str, Article] = {}
    by_title: dict[str, Article] = {}
    kept: list[Article] = []
    dropped = 0
    for a in articles:
        url_key, title_key = canonical_url(a.url), normalize_title(a.title)
        first = by_url.get(url_key) or (by_title.get(title_key) if title_key else None)
        if first is not None:
            dropped += 1
            if a.source != first.source and a.source not in first.also_in:
                first.also_in.append(a.source)
            if len(a.text) > len(first.text):
                first.text = a.text
            continue
        a.url = url_key
        by_url[url_key] = a
        if title_key:
            by_title[title_key] = a
        kept.append(a)
    return kept, dropped
