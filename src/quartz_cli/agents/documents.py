"""Publishing and reading agents' documents over the `Store` port: a dated copy, then a
`latest` pointer. Logic over the port, not an adapter, so every layer may use it.

These functions block, as the store's calls do (boto3 is synchronous; the local folder does
file I/O). Async code runs them in a worker thread, `await asyncio.to_thread(publish, ...)`,
so the event loop keeps serving broker calls meanwhile; the same goes for any other
function that calls the store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from quartz_cli.domain.documents import Document, utcnow
from quartz_cli.errors import StoreError
from quartz_cli.ports import CopyAwareStore, Store

D = TypeVar("D", bound=Document)


class LatestPointer(BaseModel):
    """`<prefix>/latest.json`: which dated copy is current."""

    key: str
    produced_at: datetime
    schema_version: int


@dataclass(frozen=True)
class Loaded(Generic[D]):
    """A document read from the store, with its key and age."""

    document: D
    key: str
    age: timedelta
    # Answered by this host's copy because the shared store could not be reached.
    from_copy: bool = False

    def is_stale(self, max_age: timedelta) -> bool:
        """Older than `max_age`, or a copy kept while the shared store is unreachable (the
        seed: stale but available)."""
        return self.from_copy or self.age > max_age


def dated_key(prefix: str, produced_at: datetime, name: str = "") -> str:
    """`<prefix>/YYYY/MM/DD/<HHMMSS.ffffff>Z[-name].json`, ordered by time when listed."""
    t = produced_at.astimezone(UTC)
    suffix = f"-{name}" if name else ""
    return f"{prefix}/{t:%Y/%m/%d}/{t:%H%M%S.%f}Z{suffix}.json"


def prune_dated(store: Store, root: str, keep_days: float, now: datetime) -> int:
    """Delete the dated copies under `<root>/<id>/YYYY/MM/DD/` older than `keep_days`,
    always keeping each id's newest copy (the one its `latest` pointer names) and every
    pointer. One listing of `root`; returns how many copies were deleted (blocking)."""
    cutoff = (now - timedelta(days=keep_days)).astimezone(UTC).strftime("%Y/%m/%d")
    newest: dict[str, str] = {}
    old: list[tuple[str, str]] = []
    for key in store.list(f"{root}/"):
        parts = key.split("/")
        # root / id / YYYY / MM / DD / file
        if len(parts) != 6 or not all(p.isdigit() for p in parts[2:5]):
            continue
        ident, day = parts[1], "/".join(parts[2:5])
        if key > newest.get(ident, ""):
            newest[ident] = key
        if day < cutoff:
            old.append((ident, key))
    doomed = [key for ident, key in old if key != newest[ident]]
    for key in doomed:
        store.delete(key)
    return len(doomed)


def publish(store: Store, prefix: str, document: Document, *, name: str = "",
            latest_name: str = "latest") -> str:
    """Write the dated copy, then move the `latest` pointer to it. Returns the dated key.

    The pointer is written second so a reader following it always finds a whole document."""
    return publish_encoded(store, prefix, document.model_dump_json(indent=2).encode(),
                           document.produced_at, document.schema_version, name=name,
                           latest_name=latest_name)


def publish_encoded(store: Store, prefix: str, body: bytes, produced_at: datetime,
                    schema_version: int, *, name: str = "", latest_name: str = "latest") -> str:
    """`publish` for a document already encoded as JSON (`body`) by its producer."""
    key = dated_key(prefix, produced_at, name)
    store.put(key, body)
    pointer = LatestPointer(key=key, produced_at=produced_at, schema_version=schema_version)
    store.put(f"{prefix}/{latest_name}.json", pointer.model_dump_json().encode())
    return key


def read_key(store: Store, key: str, model: type[D]) -> D | None:
    """Read and validate one document by key; None when absent."""
    raw = store.get(key)
    if raw is None:
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise StoreError(f"{key} in {store.description} is not a valid {model.__name__}: "
                         f"{exc.error_count()} problem(s)",
                         hint="restore it from the store's history (a versioned bucket or a "
                         "backup), or run the agent that publishes it again") from None


def read_pointer(store: Store, prefix: str, latest_name: str = "latest") -> LatestPointer | None:
    """The pointer `<prefix>/<latest_name>.json`; None when absent, StoreError when corrupt."""
    raw = store.get(f"{prefix}/{latest_name}.json")
    return None if raw is None else parse_pointer(store, prefix, raw, latest_name)


def parse_pointer(store: Store, prefix: str, raw: bytes,
                  latest_name: str = "latest") -> LatestPointer:
    """`raw`, the bytes of `<prefix>/<latest_name>.json`, as a pointer; StoreError when
    corrupt."""
    try:
        return LatestPointer.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        raise StoreError(f"{prefix}/{latest_name}.json in {store.description} is corrupt",
                         hint=f"run the agent that publishes {prefix}/ again (it rewrites the "
                         "pointer), or restore the pointer from the store's history") from None


def read_latest(store: Store, prefix: str, model: type[D], *, latest_name: str = "latest",
                now: datetime | None = None) -> Loaded[D] | None:
    """Follow `<prefix>/latest.json` to the current document; None when there is none."""
    pointer_key = f"{prefix}/{latest_name}.json"
    pointer = read_pointer(store, prefix, latest_name)
    if pointer is None:
        return None
    doc = read_key(store, pointer.key, model)
    if doc is None:
        raise StoreError(f"{prefix}/{latest_name}.json points to missing {pointer.key}",
                         hint=f"run the agent that publishes {prefix}/ again, or restore "
                         f"{pointer.key} from the store's history")
    age = (now or utcnow()) - doc.produced_at
    copied = isinstance(store, CopyAwareStore) and (store.from_copy(pointer_key)
                                                    or store.from_copy(pointer.key))
    return Loaded(document=doc, key=pointer.key, age=age, from_copy=copied)
