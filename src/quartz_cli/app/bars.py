"""Composition root, bar store: the `BarStore` a runtime's market data already is (see
`runtime.with_bar_store`)."""

from __future__ import annotations

from quartz_cli.app.runtime import Runtime, with_bar_store
from quartz_cli.store.bars import BarStore


def open_bar_store(rt: Runtime) -> BarStore:
    """The bar store of `rt`: daily bars in `rt.store`, fetched through its broker."""
    if isinstance(rt.market, BarStore):
        return rt.market
    market = with_bar_store(rt.config, rt.store, rt.market)
    assert isinstance(market, BarStore)
    return market
