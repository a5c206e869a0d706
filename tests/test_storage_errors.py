"""Storage and configuration failures as an operator meets them, through the real console
script: a QUARTZ_HOME that is a file or read-only, a corrupt order ledger, token cache,
technical cache or simulator database, an empty app key. Each names the file (or setting)
and the fix, with exit 6 (storage) or 3 (configuration), never a traceback."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from cli import QUARTZ, quartz
from quartz_cli.errors import LocalStateCorrupt, LocalStateError, local_state_error

PAPER_KEYS = {"HANSEC_INVESTMENT_APP_SECRET_KEY": "s" * 40, "HANSEC_INVESTMENT_CANO": "12345678"}


def no_crash(proc: subprocess.CompletedProcess) -> None:
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def damage(path: Path) -> None:
    """Overwrite a SQLite file's header, as a torn copy or a bad disk would."""
    data = bytearray(path.read_bytes())
    data[:16] = b"not a database!!"
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_a_quartz_home_that_is_a_file_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "home-file"
    blocker.write_text("x")

    for args in (["doctor"], ["trade", "balance"]):
        proc = quartz(*args, env={"QUARTZ_HOME": str(blocker)})
        assert proc.returncode == 3, proc.stderr
        assert f"QUARTZ_HOME={blocker}" in proc.stderr and "is a file, not a folder" in proc.stderr
        no_crash(proc)


def test_an_empty_app_key_in_paper_names_the_setting() -> None:
    proc = quartz("--env", "paper", "auth", "status",
                  env={**PAPER_KEYS, "HANSEC_INVESTMENT_APP_KEY": ""})

    assert proc.returncode == 3
    assert "HANSEC_INVESTMENT_APP_KEY (set but empty)" in proc.stderr
    no_crash(proc)


def test_a_corrupt_simulator_database_names_the_file_and_sim_reset(quartz_home: Path) -> None:
    db = quartz_home / "sim" / "local.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage, not SQLite" * 100)

    broken = quartz("trade", "balance")
    reset = quartz("sim", "reset", "--yes")
    after = quartz("trade", "balance", "--json")

    assert broken.returncode == 6
    assert f"the simulator's database {db} is corrupt" in broken.stderr
    assert "quartz sim reset" in broken.stderr
    no_crash(broken)
    assert reset.returncode == 0 and after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["cash_krw"] > 0


def test_a_corrupt_token_cache_names_auth_refresh_which_repairs_it(quartz_home: Path) -> None:
    cache = quartz_home / "cache" / "tokens"
    cache.mkdir(parents=True)
    (cache / "cache.db").write_bytes(b"garbage, not SQLite" * 100)

    broken = quartz("auth", "status")
    doctor = quartz("--json", "doctor")
    refresh = quartz("auth", "refresh", "--json")

    assert broken.returncode == 6
    assert f"the token cache {cache} is corrupt" in broken.stderr
    assert "quartz auth refresh" in broken.stderr
    no_crash(broken)
    assert doctor.returncode == 6
    checks = json.loads(doctor.stdout)["checks"]
    assert checks["file: token cache"]["ok"] is False
    assert "quartz auth refresh" in checks["file: token cache"]["hint"]
    assert refresh.returncode == 0, refresh.stderr
    repaired = json.loads(refresh.stdout)
    assert "damaged token cache was moved to" in repaired["note"]
    assert repaired["valid"] is True
    assert [p.name for p in cache.parent.glob("tokens.damaged-*")]


def test_a_corrupt_technical_cache_names_the_folder(in_session: Path) -> None:
    cache = in_session / "cache" / "technical"
    cache.mkdir(parents=True)
    (cache / "cache.db").write_bytes(b"garbage, not SQLite" * 100)

    broken = quartz("analyze", "005930")
    bypassed = quartz("analyze", "005930", "--no-cache", "--json")

    assert broken.returncode == 6
    assert f"the technical cache {cache} is corrupt" in broken.stderr
    assert f"rm -r {cache}" in broken.stderr and "--no-cache" in broken.stderr
    no_crash(broken)
    assert bypassed.returncode == 0, bypassed.stderr


def test_a_corrupt_order_ledger_is_kept_and_trading_is_refused(in_session: Path) -> None:
    first = quartz("trade", "buy", "005930", "1", "--yes", "--json")
    assert first.returncode == 0, first.stderr
    ledger = in_session / "trading" / "local-ledger.db"
    damage(ledger)
    damaged = ledger.read_bytes()

    buy = quartz("trade", "buy", "000660", "1", "--yes")
    doctor = quartz("--json", "doctor")

    assert buy.returncode == 6
    assert f"the order ledger {ledger} is corrupt" in buy.stderr
    assert "trading is refused until the ledger is restored" in buy.stderr
    assert "do not delete it" in buy.stderr
    no_crash(buy)
    # Never replaced or repaired behind the operator's back.
    assert ledger.read_bytes() == damaged
    assert doctor.returncode == 6
    check = json.loads(doctor.stdout)["checks"]["file: order ledger"]
    assert check["ok"] is False and check["path"] == str(ledger)
    # Nothing reached the broker after the damage: the simulator booked only the first order.
    from quartz_cli.sim import SimConfig, SimState, Simulator
    from quartz_cli.sim.exchange import exchange_for

    sim = Simulator(SimState(in_session / "sim" / "local.db"), SimConfig())
    booked = [a for a in exchange_for(sim).audit() if a["event"] == "booked"]
    assert len(booked) == 1


def _read_only_runner(home: Path) -> list[str] | None:
    """A command prefix that runs `quartz` with `home` read-only: a read-only bind mount in a
    private mount namespace when running as root (chmod does not stop root), else chmod."""
    if os.geteuid() != 0:
        for path in [home, *home.rglob("*")]:
            if path.is_dir():
                path.chmod(0o500)
        return [QUARTZ]
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run([unshare, "-m", "sh", "-c", f"mount --bind {home} {home} && "
                            f"mount -o remount,ro,bind {home} {home}"], capture_output=True)
    if probe.returncode != 0:
        return None
    return [unshare, "-m", "sh", "-c", f'mount --bind {home} {home} && mount -o remount,ro,'
            f'bind {home} {home} && exec "$0" "$@"', QUARTZ]


def test_a_read_only_home_names_the_folder(in_session: Path) -> None:
    runner = _read_only_runner(in_session)
    if runner is None:
        pytest.skip("no way to make a folder read-only for this user here")
    env = {**os.environ, "COLUMNS": "120"}
    try:
        runs = {name: subprocess.run([*runner, *args], env=env, capture_output=True, text=True,
                                     timeout=120)
                for name, args in (("buy", ["trade", "buy", "005930", "1", "--yes"]),
                                   ("doctor", ["--json", "doctor"]))}
    finally:
        for path in [in_session, *in_session.rglob("*")]:
            if path.is_dir():
                path.chmod(0o700)

    buy = runs["buy"]
    assert buy.returncode == 6, buy.stderr
    assert str(in_session) in buy.stderr
    assert "read-only" in buy.stderr or "not writable" in buy.stderr
    no_crash(buy)
    doctor = runs["doctor"]
    assert doctor.returncode == 6
    assert json.loads(doctor.stdout)["checks"]["file: home"]["ok"] is False


@pytest.mark.parametrize(("exc", "expected"), [
    (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
    (OSError(errno.EROFS, "Read-only file system"), "read-only filesystem"),
    (OSError(errno.EACCES, "Permission denied"), "not writable by this user"),
    (OSError(errno.ENOTDIR, "Not a directory"), "a path that is a file"),
    (sqlite3.OperationalError("database or disk is full"), "the disk is full"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "is read-only"),
    (sqlite3.DatabaseError("file is not a database"), "is corrupt"),
    (sqlite3.DatabaseError("database disk image is malformed"), "is corrupt"),
])
def test_each_storage_failure_is_named_with_the_file_and_its_fix(exc: BaseException,
                                                                 expected: str) -> None:
    error = local_state_error("/q/trading/x.db", "the order ledger", exc, fix="free space",
                              corrupt_fix="restore it")

    assert error.exit_code == 6
    assert error.message.startswith("the order ledger /q/trading/x.db ")
    assert expected in error.message
    assert error.hint == ("restore it" if isinstance(error, LocalStateCorrupt) else "free space")
    assert error.to_dict()["path"] == "/q/trading/x.db"


def test_a_full_disk_mid_transaction_is_rolled_back_and_named(tmp_path: Path) -> None:
    """SQLite's own size cap stands in for a full disk: the write fails like ENOSPC does."""
    from quartz_cli.store.order_ledger import LEDGER
    from quartz_cli.store.sqlite import immediate_transaction, open_durable

    path = tmp_path / "small.db"
    conn = open_durable(path, LEDGER, "CREATE TABLE t (v BLOB);")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    lock = threading.RLock()

    with pytest.raises(LocalStateError) as caught, immediate_transaction(
            conn, lock, on_error=lambda e: LEDGER.error(path, e)) as db:
        db.execute("INSERT INTO t VALUES (zeroblob(1000000))")

    assert "cannot grow: the disk is full" in caught.value.message
    assert str(path) in caught.value.message
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    assert not conn.in_transaction
