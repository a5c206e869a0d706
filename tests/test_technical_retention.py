"""The retention rule of technical history: dated copies past the window are deleted in one
pass over the store, each ticker's newest copy (the one its pointer names) and every pointer
are kept, other prefixes are untouched."""

from __future__ import annotations

from datetime import UTC, datetime

from quartz_cli.agents.technical import prune_technical
from quartz_cli.store.local import LocalStore

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def test_old_copies_go_the_newest_and_the_pointers_stay(tmp_path):
    store = LocalStore(tmp_path)
    keys = {
        "technical/005930/2026/09/01/010000.000000Z.json",
        "technical/005930/2026/10/15/010000.000000Z.json",
        "technical/005930/2026/11/28/010000.000000Z.json",
        "technical/005930/latest.json",
        # A ticker analysed only long ago keeps its one newest copy.
        "technical/000660/2026/08/01/010000.000000Z.json",
        "technical/000660/2026/08/02/010000.000000Z.json",
        "technical/000660/latest.json",
        "decisions/2026/08/01/010000.000000Z.json",
    }
    for key in keys:
        store.put(key, b"{}")
    assert prune_technical(store, 30, NOW) == 3
    assert set(store.list("")) == keys - {
        "technical/005930/2026/09/01/010000.000000Z.json",
        "technical/005930/2026/10/15/010000.000000Z.json",
        "technical/000660/2026/08/01/010000.000000Z.json"}
    assert prune_technical(store, 30, NOW) == 0
