"""The `Store` protocol every agent writes its documents through."""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from quartz_cli.errors import StoreError

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]*$")


def check_key(key: str) -> str:
    """Reject keys that could escape the store's root or mean different things per backend."""
    if not _KEY.match(key) or ".." in key.split("/") or key.endswith("/") or "//" in key:
        raise StoreError(f"invalid store key {key!r}")
    return key


@runtime_checkable
class Store(Protocol):
    """A flat key → bytes store. Keys use `/` as a separator (`macro-analysis/latest.json`)."""

    description: str

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when absent."""

    def put(self, key: str, data: bytes) -> None:
        """Write the object whole (readers never see a partial object)."""

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Write only if no object has the key; True if this call created it."""

    def delete(self, key: str) -> None:
        """Remove the object; absent keys are not an error."""

    def list(self, prefix: str) -> list[str]:
        """Every key that starts with `prefix`, sorted."""

    def ping(self) -> None:
        """Raise StoreError if the store cannot be reached."""
