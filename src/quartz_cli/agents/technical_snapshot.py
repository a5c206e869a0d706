"""The technical agent's stored analyses: one snapshot document per run.

A run publishes `technical/runs/YYYY/MM/DD/<time>Z.json`, a `TechnicalSnapshot` holding the
newest analysis of every ticker analysed so far (this run's, and those it carries over from
the snapshot before it), then moves the pointer `technical/runs/latest.json` to it. So a run
writes two objects whatever its size: the whole market used to be 5,600 (a dated copy and a
pointer per ticker), 2.5 s of a decide on a local disk and 5,600 requests on S3.

Two runs publishing at the same moment: the later pointer wins, and a ticker only the other
run analysed is back in the next snapshot that analyses it (its analysis stays in the other
run's dated snapshot meanwhile). Readers treat a missing analysis as "skip the ticker".

Blocking, like the store's calls: async code runs these in a worker thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from quartz_cli.agents.documents import Loaded, parse_pointer, publish_encoded
from quartz_cli.domain.documents import utcnow
from quartz_cli.domain.technical import TechnicalDocument, TechnicalSnapshot
from quartz_cli.errors import StoreError
from quartz_cli.ports import CopyAwareStore, Store

SNAPSHOT_PREFIX = "technical/runs"
POINTER_KEY = f"{SNAPSHOT_PREFIX}/latest.json"


@dataclass(frozen=True)
class _Raw:
    """A snapshot as read: its key and its entries as decoded JSON (validated one by one
    when asked for, not 2,800 at a time)."""

    key: str
    entries: dict[str, Any]
    from_copy: bool


class _Unreadable(StoreError):
    """The current snapshot (or its pointer's target) is corrupt or missing, as opposed to a
    store that does not answer."""


# The last snapshot decoded, per store: dated snapshots never change, so servers answering
# one ticker at a time decode each snapshot once.
_cache: dict[str, tuple[str, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


def _read_raw(store: Store) -> _Raw | None:
    raw_pointer = store.get(POINTER_KEY)
    if raw_pointer is None:
        return None
    try:
        pointer = parse_pointer(store, SNAPSHOT_PREFIX, raw_pointer)
    except StoreError as exc:
        raise _Unreadable(exc.message, hint=exc.hint) from None
    copied = isinstance(store, CopyAwareStore) and store.from_copy(POINTER_KEY)
    with _cache_lock:
        cached = _cache.get(store.description)
    if cached is not None and cached[0] == pointer.key:
        return _Raw(pointer.key, cached[1], copied)
    body = store.get(pointer.key)
    if body is None:
        raise _Unreadable(f"{POINTER_KEY} points to missing {pointer.key}",
                         hint="run `quartz analyze` or `quartz decide` again, or restore "
                         f"{pointer.key} from the store's history")
    try:
        decoded = json.loads(body)
        TechnicalSnapshot.model_validate({**decoded, "entries": {}})
        entries = decoded["entries"]
        if not isinstance(entries, dict):
            raise ValueError("entries is not an object")
    except (ValueError, KeyError, ValidationError):
        raise _Unreadable(f"{pointer.key} in {store.description} is not a valid "
                         "TechnicalSnapshot",
                         hint="run `quartz analyze` or `quartz decide` again (the next "
                         "snapshot starts afresh), or restore it from the store's "
                         "history") from None
    copied = copied or (isinstance(store, CopyAwareStore) and store.from_copy(pointer.key))
    with _cache_lock:
        _cache[store.description] = (pointer.key, entries)
    return _Raw(pointer.key, entries, copied)


def publish_snapshot(store: Store, documents: Sequence[TechnicalDocument], env: str,
                     produced_at: datetime | None = None) -> str:
    """Publish one snapshot: `documents` over the entries of the current one. Returns its
    key. A current snapshot that is corrupt or missing is not carried over (the new one
    starts afresh; the unreadable one stays in the store's history); a store that fails
    raises StoreError, so no analysis is dropped for a read that merely failed."""
    try:
        previous = _read_raw(store)
    except _Unreadable:
        previous = None
    entries = dict(previous.entries) if previous is not None else {}
    entries.update({d.code: d.model_dump(mode="json") for d in documents})
    header = TechnicalSnapshot(produced_at=produced_at or utcnow(), env=env, entries={})
    body = json.dumps({**header.model_dump(mode="json"), "entries": entries},
                      ensure_ascii=False, separators=(",", ":")).encode()
    return publish_encoded(store, SNAPSHOT_PREFIX, body, header.produced_at,
                           header.schema_version)


def read_analyses(store: Store, codes: Sequence[str], *, now: datetime | None = None,
                  ) -> dict[str, Loaded[TechnicalDocument]]:
    """The stored analysis of each of `codes` that has one, with its age."""
    raw = _read_raw(store)
    if raw is None:
        return {}
    found: dict[str, Loaded[TechnicalDocument]] = {}
    for code in codes:
        entry = raw.entries.get(code)
        if entry is None:
            continue
        try:
            doc = TechnicalDocument.model_validate(entry)
        except ValidationError as exc:
            raise StoreError(f"the analysis of {code} in {raw.key} ({store.description}) is "
                             f"not valid: {exc.error_count()} problem(s)",
                             hint="run `quartz analyze " + code + "` again") from None
        found[code] = Loaded(document=doc, key=raw.key, age=(now or utcnow()) - doc.produced_at,
                             from_copy=raw.from_copy)
    return found
