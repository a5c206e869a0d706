"""Run a coroutine against the configured runtime (in `local`, the in-process simulator),
with the market clock pinned and the simulator's rate limit off."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from quartz_cli.app.runtime import Runtime, open_runtime
from quartz_cli.config import load_config


def pin_market(monkeypatch: pytest.MonkeyPatch, market_time: str) -> None:
    """The market clock at `market_time`; the simulator answers without pacing."""
    monkeypatch.setenv("QUARTZ_MARKET_TIME", market_time)
    monkeypatch.setenv("QUARTZ_SIM_RATE_LIMIT_PER_S", "0")


def run(coro_fn: Callable[[Runtime], Awaitable[Any]]) -> Any:
    """`coro_fn(runtime)` in a fresh runtime, closed afterwards."""
    async def go() -> Any:
        async with open_runtime(load_config()) as rt:
            return await coro_fn(rt)
    return asyncio.run(go())
