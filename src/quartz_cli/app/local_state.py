"""Composition root, the files Quartz keeps on this host: where each is and whether it can
be used (`quartz doctor`). The databases are only read: a damaged ledger is reported, not
touched."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from quartz_cli.config import Config, Env
from quartz_cli.errors import ConfigError, LocalStateError, QuartzError, local_state_error


@dataclass(frozen=True)
class LocalCheck:
    """One file or folder: its name, where it is, and the error it gives (None when sound)."""

    name: str
    path: Path
    error: QuartzError | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"ok": self.error is None, "path": str(self.path)}
        if self.error is not None:
            out["detail"] = self.error.message
            if self.error.hint:
                out["hint"] = self.error.hint
        return out


HOME_FIX = ("point QUARTZ_HOME at a folder this user can write (in a pod: a writable volume, "
            "not the read-only root filesystem), or free some space")


def writable_home(config: Config) -> Path:
    """QUARTZ_HOME, created if missing; `LocalStateError` naming it when it is read-only or
    cannot be created, before a command starts writing its caches, lock and ledger there."""
    import errno

    home = config.home
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        read_only = bool(os.statvfs(home).f_flag & os.ST_RDONLY)
    except OSError as exc:
        raise local_state_error(home, "QUARTZ_HOME", exc, fix=HOME_FIX) from None
    if read_only:
        raise local_state_error(home, "QUARTZ_HOME", OSError(errno.EROFS, "read-only"),
                                fix=HOME_FIX)
    if not os.access(home, os.W_OK):
        raise local_state_error(home, "QUARTZ_HOME", OSError(errno.EACCES, "denied"),
                                fix=HOME_FIX)
    return home


def _home(config: Config) -> LocalCheck:
    try:
        writable_home(config)
    except LocalStateError as exc:
        return LocalCheck("home", config.home, exc)
    return LocalCheck("home", config.home)


def local_state(config: Config) -> list[LocalCheck]:
    """The home folder, then each database: the order ledger, the owner's state, the token
    cache, the technical cache and (in `local`) the simulator."""
    from quartz_cli.app.owner import account_hash
    from quartz_cli.sim.state import SIM_DB
    from quartz_cli.store.order_ledger import LEDGER
    from quartz_cli.store.owner_state import OWNER_STATE
    from quartz_cli.store.sqlite import DbLabel, check_database

    home = config.home
    trading = home / "trading"
    cache_fix = "it is only a cache: delete it (it is rebuilt)"
    files: list[tuple[str, Path, DbLabel]] = [
        ("order ledger", trading / f"{config.env.value}-ledger.db", LEDGER),
        ("token cache", home / "cache" / "tokens" / "cache.db",
         DbLabel("the token cache", fix="make the folder writable and free some space",
                 corrupt_fix="run `quartz auth refresh`: it sets the damaged cache aside")),
        ("technical cache", home / "cache" / "technical" / "cache.db",
         DbLabel("the technical cache", fix=cache_fix)),
    ]
    # Without credentials there is no account file to check (the broker check says why).
    with contextlib.suppress(ConfigError):
        files.insert(1, ("owner state", trading / f"{account_hash(config)}-owner.db",
                         OWNER_STATE))
    if config.env is Env.LOCAL:
        files.append(("simulator", home / "sim" / "local.db", SIM_DB))
    checks = [_home(config)]
    for name, path, label in files:
        try:
            check_database(path, label)
            checks.append(LocalCheck(name, path))
        except LocalStateError as exc:
            checks.append(LocalCheck(name, path, exc))
    return checks
