"""Loads the KRX calendar: exchange-calendars `XKRX` sessions, stored as a compact table (the
weekdays KRX is closed) with the horizon it was built to. The project's special days
(`domain/krx_special_days.py`) apply on top.

Where the table comes from, cheapest first, taking the first whose horizon is at least
`HORIZON_MARGIN` past today:

1. the newest table in the cache folder (`xkrx-<library version>-<build date>.json`);
2. the table shipped in the package (`quartz_cli/data/xkrx.json`), so a fresh home pays no
   build;
3. a build from exchange-calendars (about 1.5 s) out to `BUILD_AHEAD`, written to the cache.

A calendar therefore never runs out: one year before its horizon the next load builds a new
one. `python -m quartz_cli.calendars PATH` writes a fresh package table (done at release).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from quartz_cli.domain.calendar import KrxCalendar
from quartz_cli.domain.krx import KST

log = logging.getLogger(__name__)

FIRST_SESSION = date(2018, 1, 1)
#: A table is rebuilt when fewer days than this remain before its horizon.
HORIZON_MARGIN = timedelta(days=365)
#: How far ahead a build reaches (the library's XKRX holidays are precomputed to 2050).
BUILD_AHEAD = timedelta(days=2 * 365)
_PREFIX = "xkrx-"


@dataclass(frozen=True)
class SessionTable:
    """XKRX sessions from `first` to `horizon` as the weekdays without one (`closed`)."""

    library: str
    built: date
    first: date
    horizon: date
    closed: frozenset[date]

    def sessions(self) -> tuple[date, ...]:
        out = []
        day = self.first
        while day <= self.horizon:
            if day.weekday() < 5 and day not in self.closed:
                out.append(day)
            day += timedelta(days=1)
        return tuple(out)

    def covers(self, today: date) -> bool:
        return self.horizon - today >= HORIZON_MARGIN

    def to_json(self) -> dict[str, Any]:
        return {"library": self.library, "built": self.built.isoformat(),
                "first": self.first.isoformat(), "horizon": self.horizon.isoformat(),
                "closed": sorted(d.isoformat() for d in self.closed)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SessionTable:
        return cls(library=str(doc["library"]), built=date.fromisoformat(doc["built"]),
                   first=date.fromisoformat(doc["first"]),
                   horizon=date.fromisoformat(doc["horizon"]),
                   closed=frozenset(date.fromisoformat(d) for d in doc["closed"]))


def library_version() -> str:
    from importlib.metadata import version

    return version("exchange-calendars")


def build_table(today: date) -> SessionTable:
    """Sessions from FIRST_SESSION to `today` + BUILD_AHEAD, from exchange-calendars."""
    import exchange_calendars as xcals

    horizon = today + BUILD_AHEAD
    with warnings.catch_warnings():
        # The library's own pandas deprecations: nothing a user of Quartz can act on.
        warnings.simplefilter("ignore")
        cal = xcals.get_calendar("XKRX", start=FIRST_SESSION.isoformat(),
                                 end=horizon.isoformat())
    sessions = {ts.date() for ts in cal.sessions}
    closed = set()
    day = FIRST_SESSION
    while day <= horizon:
        if day.weekday() < 5 and day not in sessions:
            closed.add(day)
        day += timedelta(days=1)
    return SessionTable(library_version(), today, FIRST_SESSION, horizon, frozenset(closed))


def _read(path: Path) -> SessionTable | None:
    try:
        return SessionTable.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("ignoring an unreadable calendar table at %s", path)
        return None


def packaged_table() -> SessionTable | None:
    """The table shipped in the package (`quartz_cli/data/xkrx.json`)."""
    try:
        text = resources.files("quartz_cli.data").joinpath("xkrx.json").read_text()
        return SessionTable.from_json(json.loads(text))
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("the packaged KRX calendar table is unreadable; building one")
        return None


def _cached(cache_dir: Path, library: str) -> SessionTable | None:
    """The newest cached table built with this library version."""
    paths = sorted(cache_dir.glob(f"{_PREFIX}{library}-*.json"))
    return _read(paths[-1]) if paths else None


def _write(cache_dir: Path, table: SessionTable) -> None:
    path = cache_dir / f"{_PREFIX}{table.library}-{table.built.isoformat()}.json"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(table.to_json()))
        os.replace(tmp, path)
        # Older tables of any library version are superseded.
        for old in cache_dir.glob(f"{_PREFIX}*.json"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not cache the KRX calendar: %s", exc)


def session_table(cache_dir: Path | None, today: date) -> SessionTable:
    """The first table whose horizon is far enough past `today` (see the module docstring)."""
    library = library_version()
    cached = _cached(cache_dir, library) if cache_dir else None
    if cached and cached.covers(today):
        return cached
    packaged = packaged_table()
    if packaged and packaged.covers(today):
        return packaged
    at_hand = cached or packaged
    log.info("building the KRX calendar to %s (the table at hand ends %s)",
             today + BUILD_AHEAD, at_hand.horizon if at_hand else "-")
    table = build_table(today)
    if cache_dir:
        _write(cache_dir, table)
    return table


def krx_calendar(cache_dir: Path | None = None, today: date | None = None) -> KrxCalendar:
    """The KRX calendar, with at least `HORIZON_MARGIN` left past `today` (default: today in
    KST). Loaded once a day per folder: a process that runs for months gets a fresh one."""
    return _calendar(cache_dir, today or datetime.now(KST).date())


@lru_cache(maxsize=4)
def _calendar(cache_dir: Path | None, today: date) -> KrxCalendar:
    return KrxCalendar(session_table(cache_dir, today).sessions())


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.write_text(json.dumps(build_table(datetime.now(KST).date()).to_json()) + "\n")
