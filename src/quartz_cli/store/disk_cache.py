"""The technical agent's result cache on disk (diskcache), its failures named: which folder,
and that a cache can simply be deleted."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from quartz_cli.errors import local_state_error

T = TypeVar("T")


class DiskResultCache:
    """A `ResultCache` in a folder; a read-only, full or damaged folder raises
    `LocalStateError` naming it."""

    def __init__(self, path: Path) -> None:
        import diskcache

        self.path = Path(path)
        self.fix = "make the folder writable and free some space, or run with --no-cache"
        self.corrupt_fix = (f"it is only a cache: delete it (`rm -r {self.path}`; it is "
                            "rebuilt) or run with --no-cache")
        self._cache = self._named(lambda: diskcache.Cache(str(self.path)))

    def _named(self, op: Callable[[], T]) -> T:
        try:
            return op()
        except (OSError, sqlite3.Error) as exc:
            raise local_state_error(self.path, "the technical cache", exc, fix=self.fix,
                                    corrupt_fix=self.corrupt_fix) from None

    def get(self, key: str, default: Any = None) -> Any:
        return self._named(lambda: self._cache.get(key, default))

    def set(self, key: str, value: Any, expire: float | None = None) -> bool:
        return bool(self._named(lambda: self._cache.set(key, value, expire=expire)))

    def close(self) -> None:
        self._cache.close()
