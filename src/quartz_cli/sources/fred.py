"""FRED API v1 `series/observations` (St. Louis Fed).

`{base}/series/observations?series_id=…&api_key=…&file_type=json&observation_start=…`
Errors come with the HTTP error status and `{"error_code": …, "error_message": …}` (the
Content-Type may still say text/xml). Missing observations are the string ".". The key is a
query parameter, so URLs are never logged or put in messages."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from quartz_cli.domain.macro import Observation, specs_of
from quartz_cli.sources.http import (
    Collected,
    NoData,
    Retry,
    SeriesError,
    collect_each,
    get_json,
    with_retries,
)

SOURCE = "fred"
BASE_URL = "https://api.stlouisfed.org/fred"

SERIES_IDS: dict[str, str] = {
    "us.fed_funds": "FEDFUNDS",
    "us.cpi": "CPIAUCSL",
    "us.core_cpi": "CPILFESL",
}


def parse_observations(status: int, body: Any, series: str) -> list[Observation]:
    """A `series/observations` answer → observations (oldest first). Raises SeriesError with
    FRED's own message for an error body, NoData for an empty list."""
    if status != 200 or (isinstance(body, dict) and "error_code" in body):
        code = str(body.get("error_code", status)) if isinstance(body, dict) else str(status)
        message = body.get("error_message", "") if isinstance(body, dict) else ""
        raise SeriesError(SOURCE, series, f"HTTP {status}: {message or 'error'}".strip(),
                          code=code, retryable=status == 429 or status >= 500)
    if not isinstance(body, dict) or not isinstance(body.get("observations"), list):
        raise SeriesError(SOURCE, series, "unexpected response shape (no observations)")
    out = []
    for row in body["observations"]:
        value = str(row.get("value", "."))
        if value == ".":
            continue
        try:
            out.append(Observation(date=date.fromisoformat(row["date"]), value=float(value)))
        except (KeyError, ValueError):
            raise SeriesError(SOURCE, series, f"unreadable observation {row!r}") from None
    if not out:
        raise NoData(SOURCE, series, "no observations in the requested period")
    return sorted(out, key=lambda o: o.date)


class FredCollector:
    """Collects the catalogue's FRED series (levels; changes are computed by the stats)."""

    source = SOURCE

    def __init__(self, http: httpx.AsyncClient, api_key: str, *, base_url: str = BASE_URL,
                 retry: Retry = Retry()) -> None:
        self._http = http
        self._key = api_key
        self._base = base_url.rstrip("/")
        self._retry = retry

    def series_ids(self) -> list[str]:
        return [s.id for s in specs_of(SOURCE)]

    async def fetch(self, series: str, start: date, end: date) -> list[Observation]:
        """All observations of one series between `start` and `end`, oldest first."""
        fred_id = SERIES_IDS[series]
        label = f"{series} ({fred_id})"
        params = {"series_id": fred_id, "api_key": self._key, "file_type": "json",
                  "observation_start": start.isoformat(), "observation_end": end.isoformat()}

        async def once() -> list[Observation]:
            status, body = await get_json(self._http, f"{self._base}/series/observations",
                                          source=SOURCE, series=label, params=params)
            return parse_observations(status, body, label)

        return await with_retries(once, self._retry)

    async def collect(self, start: date, end: date) -> Collected:
        return await collect_each(self.series_ids(), lambda s: self.fetch(s, start, end))
