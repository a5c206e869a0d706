"""The technical agent's snapshot per run (agents/technical_snapshot.py) in a real local store:
two writes per run whatever its size, analyses carried over from the snapshot before, a
corrupt snapshot refused loudly and replaced by the next run, and retention over snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from quartz_cli.agents.technical import prune_technical, read_technical
from quartz_cli.agents.technical_snapshot import POINTER_KEY, publish_snapshot, read_analyses
from quartz_cli.domain.technical import TechnicalDocument
from quartz_cli.errors import StoreError
from quartz_cli.store.local import LocalStore

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def analysis(code: str, at: datetime, source: str = "test") -> TechnicalDocument:
    return TechnicalDocument(produced_at=at, env="local", code=code, name=f"name-{code}",
                             market_time=at, data_source=source, periods={})


class CountingStore(LocalStore):
    """A local store that counts its writes."""

    puts: list[str]

    def put(self, key: str, data: bytes) -> None:
        self.puts.append(key)
        super().put(key, data)


def test_a_run_writes_two_objects_and_carries_the_others_over(tmp_path):
    store = CountingStore(tmp_path)
    store.puts = []
    codes = [f"{i:06d}" for i in range(1, 301)]
    first = publish_snapshot(store, [analysis(c, T0) for c in codes], "local", T0)
    assert store.puts == [first, POINTER_KEY] and first.startswith("technical/runs/2026/11/27/")

    later = T0 + timedelta(hours=1)
    second = publish_snapshot(store, [analysis("000002", later, "fresh")], "local", later)
    found = read_analyses(store, ["000001", "000002", "999999"], now=later)
    assert set(found) == {"000001", "000002"}
    assert found["000001"].key == found["000002"].key == second
    # Each analysis keeps its own time: the carried one is an hour old.
    assert found["000001"].age == timedelta(hours=1) and found["000002"].age == timedelta(0)
    assert found["000002"].document.data_source == "fresh"
    assert found["000001"].document == analysis("000001", T0)
    assert read_technical(store, "A000300", now=later) is not None


def test_a_corrupt_snapshot_is_refused_and_the_next_run_starts_afresh(tmp_path):
    store = LocalStore(tmp_path)
    key = publish_snapshot(store, [analysis("005930", T0)], "local", T0)
    store.put(key, b'{"schema_version": 1, "entries": ')
    with pytest.raises(StoreError, match="not a valid TechnicalSnapshot"):
        read_analyses(store, ["005930"])
    store.put(POINTER_KEY, b"{not json")
    with pytest.raises(StoreError, match="is corrupt"):
        read_technical(store, "005930")

    later = T0 + timedelta(minutes=5)
    publish_snapshot(store, [analysis("000660", later)], "local", later)
    assert set(read_analyses(store, ["005930", "000660"])) == {"000660"}
    assert store.get(key) is not None  # the unreadable one stays in the history


def test_an_invalid_entry_names_its_ticker(tmp_path):
    store = LocalStore(tmp_path)
    key = publish_snapshot(store, [analysis("005930", T0)], "local", T0)
    raw = store.get(key)
    assert raw is not None
    store.put(key, raw.replace(b'"market_time"', b'"market_tim"'))
    # The pointer names the same key, so no decoded copy from before may answer.
    with pytest.raises(StoreError, match="analysis of 005930"):
        read_technical(store, "005930")


def test_retention_keeps_the_newest_snapshot(tmp_path):
    store = LocalStore(tmp_path)
    days = [T0 - timedelta(days=d) for d in (90, 60, 1)]
    keys = [publish_snapshot(store, [analysis("005930", at)], "local", at) for at in days]
    assert prune_technical(store, 30, T0) == 2
    assert store.list("technical/") == [keys[-1], POINTER_KEY]
    assert read_technical(store, "005930") is not None


class FailingReads(LocalStore):
    """A local store whose reads fail (the shared store not answering) while `down` is set."""

    down = False

    def get(self, key: str) -> bytes | None:
        if self.down:
            raise StoreError(f"cannot read {key}: connection refused")
        return super().get(key)


def test_a_store_that_fails_to_read_drops_nothing(tmp_path):
    store = FailingReads(tmp_path)
    publish_snapshot(store, [analysis("005930", T0)], "local", T0)
    store.down = True
    later = T0 + timedelta(minutes=5)
    # Not "start afresh": the run fails loudly, and the current snapshot stays current.
    with pytest.raises(StoreError, match="connection refused"):
        publish_snapshot(store, [analysis("000660", later)], "local", later)
    store.down = False
    assert set(read_analyses(store, ["005930", "000660"])) == {"005930"}
