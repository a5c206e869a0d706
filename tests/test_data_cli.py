"""`quartz data pull` and `quartz data status` end to end (the console script, `local`):
pull stores the bars, a second pull finds them current, status reports coverage and
freshness, an unknown ticker fails alone (exit 8)."""

from __future__ import annotations

import json

import pytest

from cli import quartz, quartz_json
from trading_support import seed_calendar

AFTER_CLOSE = {"QUARTZ_MARKET_TIME": "2026-11-20T16:00:00+09:00",
               "QUARTZ_SIM_RATE_LIMIT_PER_S": "0"}


@pytest.mark.slow  # four starts of the console script (~3 s each on the CI machine)
def test_pull_then_status_then_a_pull_that_finds_everything_current(quartz_home,
                                                                     calendar_cache):
    seed_calendar(quartz_home, calendar_cache)
    first = quartz_json("data", "pull", "--universe", "005930,000660", env=AFTER_CLOSE)
    assert first["counts"] == {"fetched": 2} and first["failed"] == {}
    status = quartz_json("data", "status", env=AFTER_CLOSE)
    assert status["last_completed_session"] == "2026-11-20"
    assert [(r["code"], r["last"], r["fresh"]) for r in status["coverage"]] == [
        ("000660", "2026-11-20", True), ("005930", "2026-11-20", True)]
    assert all(r["bars"] > 250 and r["name"] for r in status["coverage"])
    again = quartz_json("data", "pull", "--universe", "005930,000660", env=AFTER_CLOSE)
    assert again["counts"] == {"current": 2}
    # A week later nothing is fresh until the next pull.
    later = {**AFTER_CLOSE, "QUARTZ_MARKET_TIME": "2026-11-27T16:00:00+09:00"}
    assert quartz_json("data", "status", env=later)["fresh"] == 0


def test_an_unknown_ticker_fails_alone(quartz_home, calendar_cache):
    seed_calendar(quartz_home, calendar_cache)
    proc = quartz("data", "pull", "--universe", "005930,999999", "--json", env=AFTER_CLOSE)
    assert proc.returncode == 8, proc.stderr
    out = json.loads(proc.stdout)
    assert out["counts"] == {"fetched": 1, "failed": 1} and "999999" in out["failed"]
