"""The account's lease (host lock and store lease) and the ledger's fencing at its epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quartz_cli.domain.account_id import account_key
from quartz_cli.domain.orders import OrderRequest, OrderState
from quartz_cli.errors import ConfigError
from quartz_cli.ports import AccountLease, LeaseHeld, LeaseHolder, LeaseKind, LeaseLost
from quartz_cli.store.lease import HostLease, StoreLease, private_dir
from quartz_cli.store.local import LocalStore
from quartz_cli.store.order_ledger import SqliteOrderLedger
from quartz_cli.store.s3 import S3Store

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def holder(kind: LeaseKind = LeaseKind.SERVER, pid: int = 4242, **kw) -> LeaseHolder:
    return LeaseHolder(kind=kind, pid=pid, host="host-a", started_at=T0, **kw)


def order(rid: str) -> OrderRequest:
    return OrderRequest(request_id=rid, action="buy", ticker="005930", qty=1, timestamp=T0)


# --- the account's name ------------------------------------------------------------------------


def test_the_account_is_named_by_a_keyed_hash_never_its_number():
    key = account_key("paper", "50123456", "01", "app-secret")
    assert len(key) == 12 and "50123456" not in key
    assert key == account_key("paper", "50123456", "01", "app-secret")
    assert key != account_key("prod", "50123456", "01", "app-secret")
    assert key != account_key("paper", "50123457", "01", "app-secret")
    # Without the secret, the number cannot be found by hashing every candidate.
    assert key != account_key("paper", "50123456", "01", "")


# --- host lease --------------------------------------------------------------------------------


def test_host_lease_one_holder_at_a_time_and_the_epoch_grows(tmp_path: Path):
    first, second = HostLease(tmp_path, "acct1"), HostLease(tmp_path, "acct1")
    assert isinstance(first, AccountLease)
    mine = first.acquire(holder(url="ws://127.0.0.1:8005/ws/orders"))
    assert mine.epoch == 1
    with pytest.raises(LeaseHeld) as refused:
        second.acquire(holder(LeaseKind.CLI, pid=7))
    message = refused.value.message
    assert "a trading server" in message and "pid 4242" in message and "host-a" in message
    assert "since 2026-11-24T01:00:00+00:00" in message and "ws://127.0.0.1:8005" in message
    assert refused.value.holder == mine and refused.value.exit_code == 9
    record = json.loads((tmp_path / "acct1.json").read_text())
    assert record["kind"] == "server" and record["url"] == "ws://127.0.0.1:8005/ws/orders"
    # Another account is another lock.
    assert HostLease(tmp_path, "acct2").acquire(holder()).epoch == 1
    first.release()
    first.release()
    assert second.acquire(holder(LeaseKind.CLI, pid=7)).epoch == 2
    with pytest.raises(LeaseLost):
        first.renew()


def test_host_lease_is_freed_when_its_holder_is_killed(tmp_path: Path):
    script = textwrap.dedent(f"""
        import sys, time
        from datetime import UTC, datetime
        from pathlib import Path
        from quartz_cli.ports import LeaseHolder, LeaseKind
        from quartz_cli.store.lease import HostLease
        HostLease(Path({str(tmp_path)!r}), "acct").acquire(LeaseHolder(
            kind=LeaseKind.SERVER, pid=1, host="h", started_at=datetime.now(UTC)))
        print("held", flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(LeaseHeld):
            HostLease(tmp_path, "acct").acquire(holder())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    # The kernel dropped the lock with the process: the next owner gets the next epoch.
    assert HostLease(tmp_path, "acct").acquire(holder()).epoch == 2


def test_the_trading_folder_must_be_private(tmp_path: Path):
    folder = tmp_path / "trading"
    assert private_dir(folder).stat().st_mode & 0o777 == 0o700
    folder.chmod(0o770)
    with pytest.raises(ConfigError, match="writable by its group or by others"):
        HostLease(folder, "acct").acquire(holder())
    folder.chmod(0o702)
    with pytest.raises(ConfigError, match=r"mode 702") as refused:
        private_dir(folder)
    assert refused.value.hint == f"chmod 700 {folder}"
    folder.chmod(0o700)
    if os.getuid() == 0:
        os.chown(folder, 12345, -1)
        with pytest.raises(ConfigError, match="belongs to another user"):
            private_dir(folder)


# --- store lease (a cluster) -------------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path: Path):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    url = request.getfixturevalue("s3_url")
    bucket = f"lease-{time.monotonic_ns()}"
    s3 = S3Store(bucket, region="ap-northeast-2", prefix="paper", endpoint_url=url,
                 access_key_id="testing", secret_access_key="testing")
    s3.client.create_bucket(Bucket=bucket, CreateBucketConfiguration={
        "LocationConstraint": "ap-northeast-2"})
    return s3


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_store_lease_expires_and_is_taken_over_at_the_next_epoch(store):
    clock = Clock()
    a = StoreLease(store, "acct", ttl_s=30, clock=clock)
    b = StoreLease(store, "acct", ttl_s=30, clock=clock)
    assert a.acquire(holder(pid=1)).epoch == 1
    clock.now += timedelta(seconds=20)
    with pytest.raises(LeaseHeld, match="pid 1"):
        b.acquire(holder(pid=2))
    a.renew()
    clock.now += timedelta(seconds=20)
    with pytest.raises(LeaseHeld):
        b.acquire(holder(pid=2))  # renewed 20 s ago: still valid
    clock.now += timedelta(seconds=11)
    assert b.acquire(holder(pid=2)).epoch == 2
    with pytest.raises(LeaseLost, match="taken over"):
        a.renew()
    b.renew()
    # A released lease is free at once.
    b.release()
    assert a.acquire(holder(pid=1)).epoch == 3
    keys = store.list("owners/acct/")
    assert keys == ["owners/acct/000000000002.json", "owners/acct/000000000003.json"]
    record = json.loads(store.get(keys[-1]))
    assert record["pid"] == 1 and record["epoch"] == 3 and "expires_at" in record


def test_store_lease_has_one_winner_among_concurrent_contenders(store):
    clock = Clock()
    first = StoreLease(store, "acct", ttl_s=30, clock=clock)
    first.acquire(holder(pid=1))
    clock.now += timedelta(seconds=31)
    contenders = [StoreLease(store, "acct", ttl_s=30, clock=clock) for _ in range(8)]

    def take(i: int) -> int | None:
        try:
            return contenders[i].acquire(holder(pid=100 + i)).epoch
        except LeaseHeld:
            return None

    with ThreadPoolExecutor(8) as pool:
        won = [e for e in pool.map(take, range(8)) if e is not None]
    assert won == [2]


# --- fencing -----------------------------------------------------------------------------------


def test_the_ledger_refuses_a_writer_whose_lease_was_taken_over(tmp_path: Path):
    path = tmp_path / "ledger.db"
    old, new = SqliteOrderLedger(path), SqliteOrderLedger(path)
    old.fence(1)
    _, created = old.claim(order("r-1"), "local", T0)
    assert created
    new.fence(2)
    with pytest.raises(LeaseLost, match="epoch 2"):
        old.move("r-1", OrderState.RECEIVED, OrderState.SENT, T0)
    with pytest.raises(LeaseLost):
        old.claim(order("r-2"), "local", T0)
    with pytest.raises(LeaseLost, match="later than this writer's 1"):
        SqliteOrderLedger(path).fence(1)
    # A writer without any lease is refused once the ledger is fenced; reading is fine.
    bystander = SqliteOrderLedger(path)
    with pytest.raises(LeaseLost, match="no lease"):
        bystander.claim(order("r-3"), "local", T0)
    assert bystander.get("r-1") is not None and bystander.get("r-2") is None
    # The current owner writes.
    moved = new.move("r-1", OrderState.RECEIVED, OrderState.SENT, T0)
    assert moved.state is OrderState.SENT
    assert SqliteOrderLedger(path).get("r-1").state is OrderState.SENT


def test_the_lease_epoch_fences_the_ledger_end_to_end(tmp_path: Path):
    """Two owners one after another through the host lease: the first, though still alive
    and holding a ledger handle, cannot write after the second took over."""
    leases = tmp_path / "trading"
    first_lease = HostLease(leases, "acct")
    first = SqliteOrderLedger(leases / "ledger.db")
    first.fence(first_lease.acquire(holder(pid=1)).epoch)
    first.claim(order("a-1"), "local", T0)
    first_lease.release()
    second = SqliteOrderLedger(leases / "ledger.db")
    second.fence(HostLease(leases, "acct").acquire(holder(pid=2)).epoch)
    second.claim(order("b-1"), "local", T0)
    with pytest.raises(LeaseLost):
        first.claim(order("a-2"), "local", T0)
    assert {e.request.request_id for e in second.entries()} == {"a-1", "b-1"}



def test_the_owner_renews_a_store_lease_and_notices_a_takeover(tmp_path: Path):
    from quartz_cli.app.ownership import Ownership

    store = LocalStore(tmp_path / "store")
    lease = StoreLease(store, "acct", ttl_s=0.6)
    owner = Ownership(lease, lease.acquire(holder(pid=1)), renew_every_s=0.1)
    time.sleep(1.5)  # well past the TTL: still held because it is renewed
    with pytest.raises(LeaseHeld, match="pid 1"):
        StoreLease(store, "acct", ttl_s=0.6).acquire(holder(pid=2))
    assert not owner.lost.is_set()
    # A contender whose clock runs 10 s ahead sees the lease expired and takes it over.
    ahead = StoreLease(store, "acct", ttl_s=0.6,
                       clock=lambda: datetime.now(UTC) + timedelta(seconds=10))
    assert ahead.acquire(holder(pid=3)).epoch == 2
    assert owner.lost.wait(2)
    owner.release()
    assert json.loads(store.get("owners/acct/000000000002.json") or b"{}")["pid"] == 3


def test_a_cluster_takes_the_lease_in_the_store_and_one_host_a_lock(quartz_home: Path,
                                                                      s3_url: str):
    from quartz_cli.app.ownership import account_lease, account_name
    from quartz_cli.app.runtime import open_store
    from quartz_cli.config import load_config

    cluster = load_config(environ={
        "QUARTZ_HOME": str(quartz_home), "QUARTZ_ENV": "paper", "S3_BUCKET_NAME": "quartz",
        "QUARTZ_S3_ENDPOINT_URL": s3_url, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "HANSEC_INVESTMENT_APP_KEY": "k",
        "HANSEC_INVESTMENT_APP_SECRET_KEY": "s", "HANSEC_INVESTMENT_CANO": "50123456"})
    host = load_config(environ={"QUARTZ_HOME": str(quartz_home)})
    assert isinstance(account_lease(cluster, open_store(cluster)), StoreLease)
    assert isinstance(account_lease(host, open_store(host)), HostLease)
    assert "50123456" not in account_name(cluster) and len(account_name(cluster)) == 12
