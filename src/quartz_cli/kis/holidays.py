"""KIS's domestic holiday inquiry (국내휴장일조회): `GET
/uapi/domestic-stock/v1/quotations/chk-holiday`, TR_ID `CTCA0903R`, params `BASS_DT`
(YYYYMMDD), `CTX_AREA_FK`, `CTX_AREA_NK`. Each `output` row is one day from `BASS_DT` on:
`bzdy_yn` (business day), `tr_day_yn` (trading day), `opnd_yn` (market open: the flag KIS
says to check before ordering), `sttl_day_yn` (settlement day).

KIS asks for about one call a day (the inquiry hits its ledger system), so each answer is kept
per day on disk. Official samples list it for real accounts only; on the paper domain it is
sent with the same TR_ID and a refusal leaves the calendar table in charge.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from quartz_cli.errors import BrokerError
from quartz_cli.kis.client import KisClient

log = logging.getLogger(__name__)

HOLIDAY_PATH = "/uapi/domestic-stock/v1/quotations/chk-holiday"
HOLIDAY_TR_ID = "CTCA0903R"


@dataclass(frozen=True)
class MarketDay:
    """One `chk-holiday` row."""

    day: date
    business_day: bool
    trading_day: bool
    open: bool
    settlement_day: bool

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "bzdy_yn": self.business_day,
                "tr_day_yn": self.trading_day, "opnd_yn": self.open,
                "sttl_day_yn": self.settlement_day}


def _yn(row: dict[str, Any], name: str) -> bool:
    value = str(row.get(name, "")).strip().upper()
    if value not in ("Y", "N"):
        raise BrokerError(f"KIS chk-holiday answered {name}={value!r} (expected Y or N)")
    return value == "Y"


def parse_rows(rows: Any) -> list[MarketDay]:
    """The `output` array of a chk-holiday answer as MarketDays (KIS may send one object)."""
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list):
        raise BrokerError("KIS chk-holiday answer has no output rows")
    out = []
    for row in rows:
        text = str(row.get("bass_dt", ""))
        try:
            day = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            raise BrokerError(f"KIS chk-holiday answered bass_dt={text!r}") from None
        out.append(MarketDay(day, _yn(row, "bzdy_yn"), _yn(row, "tr_day_yn"),
                             _yn(row, "opnd_yn"), _yn(row, "sttl_day_yn")))
    return out


async def chk_holiday(kis: KisClient, base: date) -> list[MarketDay]:
    """The days from `base` on, as KIS reports them (one call, the first page)."""
    resp = await kis.get(HOLIDAY_PATH, HOLIDAY_TR_ID,
                         {"BASS_DT": base.strftime("%Y%m%d"), "CTX_AREA_FK": "",
                          "CTX_AREA_NK": ""}, exact_tr_id=True)
    return parse_rows(resp.output())


class HolidayCache:
    """KIS's answer for each day, one file per day under `folder`
    (`$QUARTZ_HOME/cache/kis-holidays/<env>/YYYY-MM-DD.json`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._memory: dict[date, MarketDay] = {}
        # Days KIS refused to answer for (the paper domain): asked once per process and day.
        self.refused: set[date] = set()

    def get(self, day: date) -> MarketDay | None:
        if day in self._memory:
            return self._memory[day]
        path = self.folder / f"{day.isoformat()}.json"
        try:
            doc = json.loads(path.read_text())
            found = MarketDay(date.fromisoformat(doc["day"]), bool(doc["bzdy_yn"]),
                              bool(doc["tr_day_yn"]), bool(doc["opnd_yn"]),
                              bool(doc["sttl_day_yn"]))
            self._memory[day] = found
            return found
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("ignoring an unreadable holiday answer at %s", path)
            return None

    def put(self, days: list[MarketDay]) -> None:
        self._memory.update((d.day, d) for d in days)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for d in days:
                path = self.folder / f"{d.day.isoformat()}.json"
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps(d.to_json()))
                os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not cache KIS's holiday answer: %s", exc)


async def market_day(kis: KisClient, day: date, cache: HolidayCache) -> MarketDay | None:
    """KIS's verdict on `day`: from the cache, else one chk-holiday call (its rows for the
    following days are cached too). None when KIS refused or did not answer."""
    cached = cache.get(day)
    if cached is not None or day in cache.refused:
        return cached
    try:
        days = await chk_holiday(kis, day)
    except BrokerError as exc:
        cache.refused.add(day)
        log.info("KIS holiday inquiry unavailable (%s); the calendar table decides",
                 exc.message)
        return None
    cache.put(days)
    return next((d for d in days if d.day == day), None)
