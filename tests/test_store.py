import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest

from quartz_cli.agents.documents import publish, read_latest
from quartz_cli.domain.documents import Document
from quartz_cli.errors import StoreError
from quartz_cli.store.local import LocalStore


def exercise(store):
    assert store.get("a/b.json") is None
    store.put("a/b.json", b"1")
    assert store.get("a/b.json") == b"1"
    store.put("a/b.json", b"2")
    assert store.get("a/b.json") == b"2"
    assert store.put_if_absent("a/c.json", b"first") is True
    assert store.put_if_absent("a/c.json", b"second") is False
    assert store.get("a/c.json") == b"first"
    store.put("z/other.json", b"x")
    assert store.list("a/") == ["a/b.json", "a/c.json"]
    store.delete("a/b.json")
    store.delete("a/b.json")
    assert store.list("a/") == ["a/c.json"]
    for bad in ("../x", "/abs", "a//b", "a/", "a/../b"):
        with pytest.raises(StoreError):
            store.get(bad)


def test_local_store_contract(tmp_path):
    exercise(LocalStore(tmp_path / "store"))


def test_local_put_if_absent_has_one_winner_across_processes(tmp_path):
    root = tmp_path / "store"
    code = textwrap.dedent(f"""
        import sys
        from quartz_cli.store.local import LocalStore
        won = LocalStore({str(root)!r}).put_if_absent("claims/r1.json", sys.argv[1].encode())
        print("won" if won else "lost")
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], stdout=subprocess.PIPE,
                              text=True) for i in range(8)]
    results = [p.communicate()[0].strip() for p in procs]
    assert results.count("won") == 1, results
    assert LocalStore(root).get("claims/r1.json").decode().isdigit()


def test_local_store_never_leaves_a_half_written_object_when_killed(tmp_path):
    """A writer SIGKILLed mid-stream leaves either the old or a new object, never a torn one."""
    root = tmp_path / "store"
    store = LocalStore(root)
    old = json.dumps({"gen": -1, "pad": "o" * 4_000_000}).encode()
    store.put("big.json", old)
    writer = textwrap.dedent(f"""
        import json
        from quartz_cli.store.local import LocalStore
        s = LocalStore({str(root)!r})
        gen = 0
        while True:
            s.put("big.json", json.dumps({{"gen": gen, "pad": "n" * 4_000_000}}).encode())
            gen += 1
    """)
    for delay in (0.15, 0.3, 0.45):
        proc = subprocess.Popen([sys.executable, "-c", writer])
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        doc = json.loads(store.get("big.json"))
        assert len(doc["pad"]) == 4_000_000
    assert store.list("") == ["big.json"]
    leftovers = [n for n in os.listdir(root) if n.startswith(".tmp-")]
    assert all(os.path.getsize(root / n) <= 4_100_000 for n in leftovers)


class Note(Document):
    text: str


def test_publish_writes_dated_copy_then_latest_pointer(tmp_path):
    store = LocalStore(tmp_path)
    t0 = datetime(2026, 11, 24, 1, 2, 3, tzinfo=UTC)
    k1 = publish(store, "notes", Note(produced_at=t0, env="local", text="one"))
    k2 = publish(store, "notes", Note(produced_at=t0 + timedelta(hours=1), env="local",
                                      text="two"))
    assert k1 == "notes/2026/11/24/010203.000000Z.json" and k1 != k2
    loaded = read_latest(store, "notes", Note, now=t0 + timedelta(hours=26))
    assert loaded.document.text == "two" and loaded.key == k2
    assert loaded.is_stale(timedelta(hours=24)) and not loaded.is_stale(timedelta(hours=30))
    assert read_latest(store, "missing", Note) is None
    assert store.list("notes/2026/") == [k1, k2]


def test_corrupt_or_dangling_pointer_is_a_store_error(tmp_path):
    store = LocalStore(tmp_path)
    store.put("notes/latest.json", b"{not json")
    with pytest.raises(StoreError, match="corrupt"):
        read_latest(store, "notes", Note)
    store.put("notes/latest.json", json.dumps({
        "key": "notes/gone.json", "produced_at": "2026-11-24T00:00:00+00:00",
        "schema_version": 1}).encode())
    with pytest.raises(StoreError, match="missing"):
        read_latest(store, "notes", Note)


def test_document_requires_aware_time():
    with pytest.raises(ValueError, match="produced_at must be timezone-aware"):
        Note(produced_at=datetime(2026, 1, 1), env="local", text="x")  # noqa: DTZ001 - the point
