"""What every collector shares: a typed error naming the source and series, one JSON request
that never lets the URL (which carries API keys) into error text, and bounded retries."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from quartz_cli.domain.macro import Observation
from quartz_cli.errors import SourceError
from quartz_cli.ports import Collected
from quartz_cli.redaction import redact

log = logging.getLogger(__name__)

T = TypeVar("T")


class SeriesError(SourceError):
    """A source failed for one series. `code` is the source's own error code (ECOS
    `ERROR-500`, FRED HTTP status, World Bank message id); `retryable` says whether another
    attempt may succeed."""

    def __init__(self, source: str, series: str, message: str, *, code: str | None = None,
                 retryable: bool = False) -> None:
        super().__init__(redact(f"{source} {series}: {message}"))
        self.source = source
        self.series = series
        self.code = code
        self.retryable = retryable

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out.update({"source": self.source, "series": self.series})
        if self.code:
            out["code"] = self.code
        return out


class NoData(SeriesError):
    """The source answered that it holds no data for the request (ECOS INFO-200, an empty
    observation list)."""


@dataclass(frozen=True)
class Retry:
    """At most `attempts` tries, sleeping `base_delay_s * 2**n` between them."""

    attempts: int = 3
    base_delay_s: float = 0.5


async def with_retries(call: Callable[[], Awaitable[T]], retry: Retry) -> T:
    """Run `call`, again after a retryable SeriesError, up to `retry.attempts` times."""
    for attempt in range(1, retry.attempts + 1):
        try:
            return await call()
        except SeriesError as exc:
            if not exc.retryable or attempt == retry.attempts:
                raise
            log.info("%s (attempt %d of %d, retrying)", exc.message, attempt, retry.attempts)
            await asyncio.sleep(retry.base_delay_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


async def get_json(http: httpx.AsyncClient, url: str, *, source: str, series: str,
                   params: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET `url` and decode its JSON body: (HTTP status, body). Transport failures and
    bodies that are not JSON become SeriesError; the URL is never part of the message."""
    try:
        resp = await http.get(url, params=params)
    except httpx.TimeoutException:
        raise SeriesError(source, series, "timed out", retryable=True) from None
    except httpx.HTTPError as exc:
        raise SeriesError(source, series, f"unreachable ({type(exc).__name__})",
                          retryable=True) from None
    try:
        # FRED may label a JSON error body text/xml, so parse whatever came.
        return resp.status_code, json.loads(resp.content)
    except ValueError:
        raise SeriesError(source, series, f"HTTP {resp.status_code} with a body that is not JSON",
                          code=str(resp.status_code),
                          retryable=resp.status_code == 429 or resp.status_code >= 500) from None


async def collect_each(series_ids: list[str],
                       fetch: Callable[[str], Awaitable[list[Observation]]]) -> Collected:
    """Fetch every series concurrently; a SeriesError is recorded for its series, anything
    else (a bug) propagates."""
    results = await asyncio.gather(*(fetch(s) for s in series_ids), return_exceptions=True)
    collected = Collected(series={}, errors={})
    for sid, res in zip(series_ids, results, strict=True):
        if isinstance(res, SeriesError):
            collected.errors[sid] = res
        elif isinstance(res, BaseException):
            raise res
        else:
            collected.series[sid] = res
    return collected
