"""Bank of Korea ECOS Open API: `StatisticSearch` with path-positional arguments.

`{base}/StatisticSearch/{key}/json/kr/{start_row}/{end_row}/{stat}/{cycle}/{from}/{to}/{item}`
Errors come back with HTTP 200 and `{"RESULT": {"CODE": ..., "MESSAGE": ...}}` instead of
the service key. The key sits in the path, so URLs are never logged or put in messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

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

SOURCE = "ecos"
BASE_URL = "https://ecos.bok.or.kr/api"
PAGE_ROWS = 1000


@dataclass(frozen=True)
class EcosCode:
    """Where a series lives in ECOS: table, cycle and item code."""

    stat_code: str
    cycle: str
    item_code: str

    @property
    def label(self) -> str:
        return f"{self.stat_code}/{self.cycle}/{self.item_code}"


CODES: dict[str, EcosCode] = {
    "kr.base_rate": EcosCode("722Y001", "D", "0101000"),
    "kr.cpi": EcosCode("901Y009", "M", "0"),
    # 식료품 및 에너지제외 (OECD-style core); QB would be 농산물및석유류제외.
    "kr.core_cpi": EcosCode("901Y010", "M", "DB"),
    "kr.usdkrw": EcosCode("731Y001", "D", "0000001"),
    "kr.exports": EcosCode("901Y118", "M", "T002"),
    "kr.imports": EcosCode("901Y118", "M", "T004"),
    "kr.household_loans": EcosCode("151Y002", "M", "1110000"),
}

# Codes that another attempt may cure (server and database errors).
_RETRYABLE = {"ERROR-500", "ERROR-600"}
_MESSAGES = {
    "INFO-100": "the API key was rejected (INFO-100); check ECOS_API_KEY",
    "ERROR-602": "too many calls (ERROR-602); ECOS locks the key out for a while",
}


def period(cycle: str, d: date) -> str:
    """A date in the format ECOS expects for `cycle`."""
    if cycle == "D":
        return f"{d:%Y%m%d}"
    if cycle == "M":
        return f"{d:%Y%m}"
    if cycle == "Q":
        return f"{d.year}Q{(d.month - 1) // 3 + 1}"
    if cycle == "A":
        return f"{d.year}"
    raise ValueError(f"unsupported ECOS cycle {cycle!r}")


def parse_time(cycle: str, text: str) -> date:
    """ECOS `TIME` → the first day of its period."""
    if cycle == "D":
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    if cycle == "M":
        return date(int(text[:4]), int(text[4:6]), 1)
    if cycle == "Q":
        return date(int(text[:4]), (int(text[5]) - 1) * 3 + 1, 1)
    if cycle == "A":
        return date(int(text[:4]), 1, 1)
    raise ValueError(f"unsupported ECOS cycle {cycle!r}")


def parse_statistic_search(body: Any, series: str, cycle: str) -> tuple[int, list[Observation]]:
    """One `StatisticSearch` page → (list_total_count, observations). Raises NoData for
    INFO-200 and SeriesError for every other RESULT code or an unexpected shape."""
    if not isinstance(body, dict):
        raise SeriesError(SOURCE, series, "unexpected response shape")
    if "RESULT" in body:
        result = body["RESULT"] or {}
        code = str(result.get("CODE", "?"))
        message = _MESSAGES.get(code, f"{code} {result.get('MESSAGE', '')}".strip())
        if code == "INFO-200":
            raise NoData(SOURCE, series, f"no data for the request ({code})", code=code)
        raise SeriesError(SOURCE, series, message, code=code, retryable=code in _RETRYABLE)
    page = body.get("StatisticSearch")
    if not isinstance(page, dict) or not isinstance(page.get("row"), list):
        raise SeriesError(SOURCE, series, "unexpected response shape (no StatisticSearch.row)")
    out = []
    for row in page["row"]:
        raw = str(row.get("DATA_VALUE") or "").replace(",", "").strip()
        if raw in ("", "-"):
            continue
        try:
            out.append(Observation(date=parse_time(cycle, str(row["TIME"])), value=float(raw)))
        except (KeyError, ValueError):
            raise SeriesError(SOURCE, series, f"unreadable row TIME={row.get('TIME')!r} "
                              f"DATA_VALUE={row.get('DATA_VALUE')!r}") from None
    return int(page.get("list_total_count") or len(out)), out


class EcosCollector:
    """Collects the catalogue's ECOS series, paging by `list_total_count`."""

    source = SOURCE

    def __init__(self, http: httpx.AsyncClient, api_key: str, *, base_url: str = BASE_URL,
                 retry: Retry = Retry(), page_rows: int = PAGE_ROWS) -> None:
        self._http = http
        self._key = api_key
        self._base = base_url.rstrip("/")
        self._retry = retry
        self._page_rows = page_rows

    def series_ids(self) -> list[str]:
        return [s.id for s in specs_of(SOURCE)]

    def _url(self, code: EcosCode, first_row: int, last_row: int, start: date, end: date) -> str:
        parts = ["StatisticSearch", self._key, "json", "kr", str(first_row), str(last_row),
                 code.stat_code, code.cycle, period(code.cycle, start), period(code.cycle, end),
                 code.item_code]
        return f"{self._base}/" + "/".join(quote(p, safe="") for p in parts)

    async def fetch(self, series: str, start: date, end: date) -> list[Observation]:
        """All observations of one series between `start` and `end`, oldest first."""
        code = CODES[series]
        label = f"{series} ({code.label})"
        out: list[Observation] = []
        first = 1
        while True:
            url = self._url(code, first, first + self._page_rows - 1, start, end)

            async def page(url: str = url) -> tuple[int, list[Observation]]:
                _status, body = await get_json(self._http, url, source=SOURCE, series=label)
                return parse_statistic_search(body, label, code.cycle)

            total, rows = await with_retries(page, self._retry)
            out.extend(rows)
            first += self._page_rows
            if first > total:
                break
        if not out:
            raise NoData(SOURCE, label, "no values in the requested period")
        return sorted(out, key=lambda o: o.date)

    async def collect(self, start: date, end: date) -> Collected:
        return await collect_each(self.series_ids(), lambda s: self.fetch(s, start, end))
