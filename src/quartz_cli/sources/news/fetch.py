"""A polite HTTP fetcher shared by the news crawlers.

Bounded concurrency overall, one request at a time per host with a delay between them, an
honest User-Agent, robots.txt obeyed (RFC 9309: a 4xx robots.txt allows everything, a 5xx or
unreachable one forbids everything), and bodies decoded from the declared charset (EUC-KR is
read as its superset CP949) or, failing that, sniffed.

An outage is told apart from a ban: a site, or its robots.txt, that does not answer (network
error, timeout, HTTP 5xx) raises `SourceUnreachable`; only rules that forbid the path raise
`RobotsDisallowed`. Either way nothing more is fetched from it in this run."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from quartz_cli.errors import SourceError

USER_AGENT = ("Mozilla/5.0 (compatible; QuartzNewsBot/0.1; Korean equity news research; "
              "+https://github.com/quartz-cli)")

_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_\-]+)""", re.I)
_ALIASES = {"euc-kr": "cp949", "euckr": "cp949", "ks_c_5601-1987": "cp949",
            "x-windows-949": "cp949", "ks_c_5601": "cp949", "ms949": "cp949",
            "windows-949": "cp949"}


class FetchError(SourceError):
    """A page could not be fetched (network error or an HTTP error status)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SourceUnreachable(FetchError):
    """The site (or its robots.txt) did not answer: a network error, a timeout, HTTP 5xx."""


class RobotsDisallowed(SourceError):
    """robots.txt forbids this crawler from the path."""


@dataclass(frozen=True)
class _RobotsDown:
    """robots.txt could not be read: crawling waits until it answers (RFC 9309)."""

    why: str


def _codec(name: str) -> str:
    name = name.strip().lower()
    return _ALIASES.get(name, name)


def decode_body(content: bytes, content_type: str | None) -> str:
    """Bytes → text: the header's charset, else an HTML meta / XML declaration, else UTF-8,
    else CP949. Undecodable bytes are replaced rather than failing the page."""
    candidates: list[str] = []
    if content_type:
        m = _CHARSET.search(content_type.encode("latin-1", "replace"))
        if m:
            candidates.append(_codec(m.group(1).decode()))
    head = content[:2048]
    for rx in (_XML_ENCODING, _CHARSET):
        m = rx.search(head)
        if m:
            candidates.append(_codec(m.group(1).decode()))
    candidates += ["utf-8", "cp949"]
    for codec in candidates:
        try:
            return content.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return content.decode("utf-8", "replace")


@dataclass(frozen=True)
class Page:
    url: str
    status: int
    text: str


class PoliteFetcher:
    """GETs pages for the crawlers over one httpx client (real or in-process transport)."""

    def __init__(self, client: httpx.AsyncClient, *, concurrency: int = 4,
                 per_host_delay_s: float = 1.0, user_agent: str = USER_AGENT) -> None:
        self._client = client
        self._sem = asyncio.Semaphore(concurrency)
        self._delay = per_host_delay_s
        self.user_agent = user_agent
        self._host_locks: dict[str, asyncio.Lock] = {}
        self._host_last: dict[str, float] = {}
        self._robots: dict[str, RobotFileParser | bool | _RobotsDown] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self.requests = 0

    async def _raw_get(self, url: str, headers: dict[str, str] | None) -> httpx.Response:
        host = urlsplit(url).netloc
        lock = self._host_locks.setdefault(host, asyncio.Lock())
        async with self._sem, lock:
            wait = self._host_last.get(host, -1e9) + self._delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                self.requests += 1
                return await self._client.get(
                    url, headers={"User-Agent": self.user_agent, **(headers or {})},
                    follow_redirects=True)
            except httpx.HTTPError as exc:
                raise SourceUnreachable(f"{host} unreachable: {type(exc).__name__}") from None
            finally:
                self._host_last[host] = time.monotonic()

    async def _robots_for(self, url: str) -> RobotFileParser | bool | _RobotsDown:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:
            if origin not in self._robots:
                self._robots[origin] = await self._load_robots(origin)
            return self._robots[origin]

    async def _load_robots(self, origin: str) -> RobotFileParser | bool | _RobotsDown:
        """A parser, True (no rules: everything allowed) or _RobotsDown (not readable now)."""
        try:
            resp = await self._raw_get(f"{origin}/robots.txt", None)
        except FetchError as exc:
            return _RobotsDown(exc.message)
        if 400 <= resp.status_code < 500:
            return True
        if resp.status_code >= 500:
            return _RobotsDown(f"HTTP {resp.status_code}")
        parser = RobotFileParser()
        parser.parse(decode_body(resp.content, resp.headers.get("content-type")).splitlines())
        return parser

    async def allowed(self, url: str) -> bool:
        """Whether robots.txt lets this crawler fetch `url` (False while it is unreadable)."""
        rules = await self._robots_for(url)
        if isinstance(rules, _RobotsDown):
            return False
        if isinstance(rules, bool):
            return rules
        return rules.can_fetch(self.user_agent, url)

    async def _check(self, url: str) -> None:
        """RobotsDisallowed if the rules forbid `url`; SourceUnreachable if they cannot be
        read (an outage, not a ban: RFC 9309 still says not to crawl meanwhile)."""
        rules = await self._robots_for(url)
        parts = urlsplit(url)
        if isinstance(rules, _RobotsDown):
            raise SourceUnreachable(f"robots.txt of {parts.netloc} unreachable ({rules.why}): "
                                    "not crawled until it answers")
        if not await self.allowed(url):
            raise RobotsDisallowed(f"robots.txt of {parts.netloc} forbids {parts.path}")

    def _status(self, url: str, resp: httpx.Response) -> None:
        """SourceUnreachable for a 5xx (the site is down), FetchError for another error."""
        if resp.status_code < 400:
            return
        parts = urlsplit(url)
        cls = SourceUnreachable if resp.status_code >= 500 else FetchError
        raise cls(f"{parts.netloc} answered HTTP {resp.status_code} for {parts.path}",
                  status=resp.status_code)

    async def get(self, url: str, *, headers: dict[str, str] | None = None) -> Page:
        """Fetch a page (robots.txt permitting); FetchError for any non-2xx answer."""
        await self._check(url)
        resp = await self._raw_get(url, headers)
        self._status(url, resp)
        return Page(url=str(resp.url), status=resp.status_code,
                    text=decode_body(resp.content, resp.headers.get("content-type")))

    async def get_bytes(self, url: str) -> bytes:
        """Fetch raw bytes (for XML feeds, whose parser reads the encoding declaration)."""
        await self._check(url)
        resp = await self._raw_get(url, None)
        self._status(url, resp)
        return resp.content
