"""World Bank Indicators API v2: one call per indicator for the World, the US and Korea.

`{base}/country/WLD;USA;KOR/indicator/{code}?format=json&date=2005:2026&per_page=1000`
The answer is `[paging, rows]`; an invalid request still returns HTTP 200, as a one-element
array `[{"message": [{"id", "key", "value"}]}]`. Recent years are often `null`."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import httpx

from quartz_cli.domain.macro import Observation, specs_of
from quartz_cli.sources.http import (
    Collected,
    NoData,
    Retry,
    SeriesError,
    get_json,
    with_retries,
)

SOURCE = "worldbank"
BASE_URL = "https://api.worldbank.org/v2"
COUNTRIES = ("WLD", "USA", "KOR")
YEARS_BACK = 20

# catalogue id → (indicator, ISO3 country)
SERIES: dict[str, tuple[str, str]] = {
    "world.gdp_growth": ("NY.GDP.MKTP.KD.ZG", "WLD"),
    "us.gdp_growth": ("NY.GDP.MKTP.KD.ZG", "USA"),
    "kr.gdp_growth": ("NY.GDP.MKTP.KD.ZG", "KOR"),
    "world.inflation": ("FP.CPI.TOTL.ZG", "WLD"),
    "us.inflation": ("FP.CPI.TOTL.ZG", "USA"),
    "kr.inflation": ("FP.CPI.TOTL.ZG", "KOR"),
}
# Legacy error ids worth another attempt: 105 service currently unavailable.
_RETRYABLE = {"105"}


def parse_indicator(status: int, body: Any,
                    indicator: str) -> tuple[dict, dict[str, list[Observation]]]:
    """One page → (paging, observations per ISO3 country, oldest first). Raises SeriesError
    for the message envelope or an HTTP error."""
    if isinstance(body, list) and len(body) == 1 and isinstance(body[0], dict) \
            and "message" in body[0]:
        messages = body[0]["message"] or [{}]
        first = messages[0]
        code = str(first.get("id", "?"))
        text = f"{first.get('key', 'error')}: {first.get('value', '')}".strip(": ")
        raise SeriesError(SOURCE, indicator, f"error {code} ({text})", code=code,
                          retryable=code in _RETRYABLE)
    if status != 200:
        raise SeriesError(SOURCE, indicator, f"HTTP {status}", code=str(status),
                          retryable=status == 429 or status >= 500)
    if not (isinstance(body, list) and len(body) == 2 and isinstance(body[0], dict)):
        raise SeriesError(SOURCE, indicator, "unexpected response shape")
    rows = body[1] or []
    out: dict[str, list[Observation]] = {}
    for row in rows:
        if row.get("value") is None:
            continue
        try:
            iso3 = str(row["countryiso3code"])
            obs = Observation(date=date(int(row["date"][:4]), 1, 1), value=float(row["value"]))
        except (KeyError, TypeError, ValueError):
            raise SeriesError(SOURCE, indicator,
                              f"unreadable row date={row.get('date')!r}") from None
        out.setdefault(iso3, []).append(obs)
    return body[0], {k: sorted(v, key=lambda o: o.date) for k, v in out.items()}


class WorldBankCollector:
    """Collects GDP growth and inflation (annual %) for the World, the US and Korea."""

    source = SOURCE

    def __init__(self, http: httpx.AsyncClient, *, base_url: str = BASE_URL,
                 retry: Retry = Retry()) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._retry = retry

    def series_ids(self) -> list[str]:
        return [s.id for s in specs_of(SOURCE)]

    async def fetch(self, indicator: str, start: date, end: date) -> dict[str, list[Observation]]:
        """Observations per country for one indicator, all pages."""
        url = f"{self._base}/country/{';'.join(COUNTRIES)}/indicator/{indicator}"
        out: dict[str, list[Observation]] = {}
        page = 1
        while True:
            params = {"format": "json", "date": f"{start.year}:{end.year}", "per_page": "1000",
                      "page": str(page)}

            async def once(params: dict[str, str] = params) -> tuple[dict, dict]:
                status, body = await get_json(self._http, url, source=SOURCE, series=indicator,
                                              params=params)
                return parse_indicator(status, body, indicator)

            paging, rows = await with_retries(once, self._retry)
            for iso3, obs in rows.items():
                out.setdefault(iso3, []).extend(obs)
            if page >= int(paging.get("pages") or 1):
                break
            page += 1
        return {k: sorted(v, key=lambda o: o.date) for k, v in out.items()}

    async def collect(self, start: date, end: date) -> Collected:
        """Annual series need a longer history than the monthly window the agent asks for,
        so at least the last `YEARS_BACK` years are requested."""
        start = min(start, date(end.year - YEARS_BACK, 1, 1))
        ids = self.series_ids()
        indicators = sorted({SERIES[s][0] for s in ids})
        results = await asyncio.gather(*(self.fetch(i, start, end) for i in indicators),
                                       return_exceptions=True)
        by_indicator = dict(zip(indicators, results, strict=True))
        collected = Collected(series={}, errors={})
        for sid in ids:
            indicator, iso3 = SERIES[sid]
            res = by_indicator[indicator]
            if isinstance(res, SeriesError):
                collected.errors[sid] = res
            elif isinstance(res, BaseException):
                raise res
            elif res.get(iso3):
                collected.series[sid] = res[iso3]
            else:
                collected.errors[sid] = NoData(SOURCE, f"{indicator} {iso3}",
                                               "no non-null values in the requested years")
        return collected
