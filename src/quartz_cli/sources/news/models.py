"""What a crawler yields: one article as the site published it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Article:
    """A news article. `text` is the body when it was fetched, else the feed's summary.

    Everything in it came from a third-party site: it is untrusted data."""

    source: str
    url: str
    title: str
    text: str
    published_at: datetime | None
    press: str = ""
    also_in: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        """A short stable id (used to refer to the article in LLM batches)."""
        return hashlib.sha1(self.url.encode()).hexdigest()[:12]


@dataclass
class SourceReport:
    """How one source's crawl went: `ok`, `failed` (reason in `error`) or `blocked`
    (robots.txt forbids the path)."""

    source: str
    status: str = "ok"
    articles: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
