"""Local-folder backend: one file per key, written by atomic rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from quartz_cli.errors import LocalStateError, local_state_error
from quartz_cli.store.base import check_key

FIX = ("make the folder writable by this user and free some space (it is QUARTZ_STORE_DIR, "
       "else $QUARTZ_HOME/store/<env>), then run again")


class LocalStore:
    """A store in a folder. `put` writes a temporary file, fsyncs it and renames it into place,
    so a reader (or a process that dies mid-write) never leaves or sees a half-written object."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.description = f"local folder {self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _fail(self, action: str, key: str, exc: OSError) -> LocalStateError:
        """The named error for `key`: which file, why (read-only, full, ...), the fix."""
        named = local_state_error(exc.filename or self._path(key), "the store file", exc,
                                  fix=FIX)
        named.message = f"cannot {action} {key} in {self.description}: {named.message}"
        return named

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._fail("read", key, exc) from None

    def _write_temp(self, path: Path, data: bytes) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            tmp = self._write_temp(path, data)
            os.replace(tmp, path)
        except OSError as exc:
            raise self._fail("write", key, exc) from None

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        try:
            tmp = self._write_temp(path, data)
            try:
                # link() fails if the target exists: an atomic create-if-absent on POSIX.
                os.link(tmp, path)
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        except OSError as exc:
            raise self._fail("write", key, exc) from None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._fail("delete", key, exc) from None

    def list(self, prefix: str) -> list[str]:
        # Only the folder the prefix points into is walked, not the whole store.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        top = self.root / folder if folder and ".." not in folder.split("/") else self.root
        if not top.is_dir():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise local_state_error(self.root, "the store folder", exc, fix=FIX) from None
        if not os.access(self.root, os.W_OK):
            raise LocalStateError(f"the store folder {self.root} is not writable by this user",
                                  path=str(self.root), hint=FIX)
