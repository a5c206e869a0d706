"""`LocalStore.list` walks only the folder its prefix points into (observed through Python's
audit events for directory scans), and still answers every prefix form."""

from __future__ import annotations

import sys
from pathlib import Path

from quartz_cli.store.local import LocalStore

_SCANNED: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _SCANNED is not None and event == "os.scandir":
        _SCANNED.append(str(args[0]))


sys.addaudithook(_audit)


def test_a_prefix_listing_scans_only_its_folder(tmp_path: Path):
    global _SCANNED
    store = LocalStore(tmp_path / "store")
    for i in range(30):
        store.put(f"technical/{i:06d}/2026/11/29/0000{i}.json", b"{}")
    store.put("bars/D/005930.parquet", b"x")
    store.put("bars/D/000660.parquet", b"x")
    store.put("bars/W/005930.parquet", b"x")
    _SCANNED = []
    try:
        keys = store.list("bars/D/")
        scanned = list(_SCANNED)
    finally:
        _SCANNED = None
    assert keys == ["bars/D/000660.parquet", "bars/D/005930.parquet"]
    assert scanned and all(Path(p) == tmp_path / "store" / "bars" / "D" for p in scanned)
    assert store.list("bars/") == [*keys, "bars/W/005930.parquet"]
    assert store.list("technical/00000") == [f"technical/{i:06d}/2026/11/29/0000{i}.json"
                                             for i in range(10)]
    assert len(store.list("")) == 33 and store.list("nothing/") == []
