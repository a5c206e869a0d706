"""Loads the KRX calendar from exchange-calendars (`XKRX`), cached on disk because building
it costs about two seconds; the cache is keyed by the library's version."""

from __future__ import annotations

import json
import logging
import os
from datetime import date
from functools import lru_cache
from pathlib import Path

from quartz_cli.domain.calendar import KrxCalendar

log = logging.getLogger(__name__)

FIRST_SESSION = date(2018, 1, 1)


def _build() -> tuple[date, ...]:
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XKRX", start=FIRST_SESSION.isoformat())
    return tuple(ts.date() for ts in cal.sessions)


@lru_cache(maxsize=4)
def krx_calendar(cache_dir: Path | None = None) -> KrxCalendar:
    """The KRX calendar, read from `cache_dir` when a current cache is there."""
    from importlib.metadata import version

    lib = version("exchange-calendars")
    path = cache_dir / f"xkrx-{lib}.json" if cache_dir else None
    if path and path.exists():
        try:
            return KrxCalendar(tuple(date.fromisoformat(d) for d in json.loads(path.read_text())))
        except (ValueError, OSError):
            log.warning("ignoring a corrupt calendar cache at %s", path)
    sessions = _build()
    if path:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps([d.isoformat() for d in sessions]))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not cache the KRX calendar: %s", exc)
    return KrxCalendar(sessions)
