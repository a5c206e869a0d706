"""Store keys as every backend accepts them (the `Store` protocol is in `quartz_cli.ports`)."""

from __future__ import annotations

import re

from quartz_cli.errors import StoreError

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]*$")


def check_key(key: str) -> str:
    """Reject keys that could escape the store's root or mean different things per backend."""
    if not _KEY.match(key) or ".." in key.split("/") or key.endswith("/") or "//" in key:
        raise StoreError(f"invalid store key {key!r}")
    return key
