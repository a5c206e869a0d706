"""Shared fixtures: an isolated QUARTZ_HOME per test and a clean environment; the KRX
calendar built once per session; a market clock inside a KRX session; an S3 endpoint."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Settings the tests must not inherit from the developer's shell.
_SCRUB = [k for k in os.environ if k.startswith(("QUARTZ_", "HANSEC_", "GPT_", "GEMINI_",
                                                  "ECOS_", "FRED_", "S3_", "AWS_"))]


@pytest.fixture(autouse=True)
def quartz_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs against its own QUARTZ_HOME and no inherited Quartz settings. HOME
    moves too, so a developer's ~/.quartz/config.toml (read when a test's environment names
    no QUARTZ_HOME) never reaches a test."""
    for key in [*_SCRUB, "IS_PRODUCTION"]:
        monkeypatch.delenv(key, raising=False)
    user_home = tmp_path / "user-home"
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    home = tmp_path / "quartz-home"
    monkeypatch.setenv("QUARTZ_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def calendar_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The KRX calendar built once per session (exchange-calendars takes ~2 s)."""
    from quartz_cli.calendars import krx_calendar  # lazily: exchange-calendars is slow to import

    cache = tmp_path_factory.mktemp("krx-calendar")
    krx_calendar(cache)
    return cache


@pytest.fixture
def in_session(quartz_home: Path, calendar_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`local` with the market clock inside a KRX session and a fast client throttle."""
    # Imported here: trading_support loads the runtime, which most tests never need.
    from trading_support import MARKET_TIME, seed_calendar

    monkeypatch.setenv("QUARTZ_MARKET_TIME", MARKET_TIME)
    monkeypatch.setenv("QUARTZ_RATE_LIMIT_PER_S", "1000")
    seed_calendar(quartz_home, calendar_cache)
    return quartz_home


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    """A real S3 HTTP endpoint (moto's server mode) on a free loopback port."""
    from moto.server import ThreadedMotoServer  # lazily: moto is slow to import

    from fakes.server import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
