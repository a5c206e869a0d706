import asyncio
import os
import stat
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from quartz_cli.agents.auth import TokenManager
from quartz_cli.config import LOCAL_APP_KEY, LOCAL_APP_SECRET, Env
from quartz_cli.kis.client import KisClient
from quartz_cli.kis.endpoints import LOCAL_SIM_URL, KisEndpoint
from quartz_cli.kis.oauth import issue_token
from quartz_cli.sim import SimConfig, Simulator
from quartz_cli.store.local import LocalStore


class FakeClock:
    def __init__(self):
        self.t = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return FakeClock()


def make_sim(clock, **cfg):
    return Simulator(config=SimConfig(**cfg), clock=lambda: clock().timestamp())


def manager(sim, clock, cache_dir, *, store=None, env="local", interval=timedelta(seconds=60)):
    endpoint = KisEndpoint(Env.LOCAL, LOCAL_SIM_URL, "", False, 100.0, in_process=True)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app))
    raw = KisClient(endpoint, LOCAL_APP_KEY, LOCAL_APP_SECRET, None, http)
    return TokenManager(env=env, app_key=LOCAL_APP_KEY, app_secret=LOCAL_APP_SECRET,
                        issuer=_issuer(raw, clock),
                        cache_dir=cache_dir, store=store, clock=clock, issue_interval=interval,
                        sleep=clock.sleep)


def _issuer(raw, clock):
    async def issue():
        return await issue_token(raw, LOCAL_APP_KEY, LOCAL_APP_SECRET, now=clock())
    return issue


def run(coro):
    return asyncio.run(coro)


def test_token_is_cached_in_memory_then_on_disk(tmp_path, clock):
    sim = make_sim(clock)
    m1 = manager(sim, clock, tmp_path / "c")
    t1 = run(m1.token())
    assert run(m1.token()) == t1 and m1.layer == "memory"
    m2 = manager(sim, clock, tmp_path / "c")
    assert run(m2.token()) == t1 and m2.layer == "disk"
    assert sim.state.counter("tokens_issued") == 1
    status = m2.status()
    assert status.valid and status.layer == "memory" and status.remaining_s == 86_400
    assert t1 not in str(status.to_dict())


def test_refresh_after_23h55m(tmp_path, clock):
    sim = make_sim(clock)
    m = manager(sim, clock, tmp_path / "c")
    t1 = run(m.token())
    clock.t += timedelta(hours=23, minutes=54)
    assert run(m.token()) == t1
    clock.t += timedelta(minutes=1)
    t2 = run(m.token())
    assert t2 != t1 and sim.state.counter("tokens_issued") == 2


def test_refresh_when_under_five_minutes_remain(tmp_path, clock):
    sim = make_sim(clock, token_ttl_s=3600, same_token_window_s=0)
    m = manager(sim, clock, tmp_path / "c")
    t1 = run(m.token())
    clock.t += timedelta(minutes=54, seconds=59)
    assert run(m.token()) == t1
    clock.t += timedelta(seconds=2)
    assert run(m.token()) != t1


def test_forced_refreshes_respect_one_issuance_a_minute(tmp_path, clock):
    sim = make_sim(clock, same_token_window_s=0)
    m = manager(sim, clock, tmp_path / "c")
    run(m.refresh())
    clock.t += timedelta(seconds=20)
    run(m.refresh())
    assert clock.slept == [40.0]
    assert sim.state.counter("token_throttled") == 0
    assert sim.state.counter("tokens_issued") == 2


def test_egw00133_is_waited_out_not_hammered(tmp_path, clock):
    sim = make_sim(clock, same_token_window_s=0)
    # A manager that does not know about the other host's recent issuance:
    other = manager(sim, clock, tmp_path / "host-a")
    run(other.token())
    m = manager(sim, clock, tmp_path / "host-b", interval=timedelta(0))
    run(m.token())
    assert sim.state.counter("token_throttled") == 1
    assert clock.slept == [61.0]
    assert sim.state.counter("tokens_issued") == 2


def test_persistent_throttling_gives_up_after_bounded_waits(tmp_path, clock):
    from quartz_cli.agents.auth import THROTTLE_WAITS_S
    from quartz_cli.errors import TokenIssueThrottled

    sim = make_sim(clock, token_issue_interval_s=10_000, same_token_window_s=0)
    run(manager(sim, clock, tmp_path / "a").token())
    with pytest.raises(TokenIssueThrottled):
        run(manager(sim, clock, tmp_path / "b", interval=timedelta(0)).token())
    assert clock.slept == list(THROTTLE_WAITS_S)
    assert sim.state.counter("token_throttled") == len(THROTTLE_WAITS_S) + 1


def test_pods_share_one_token_through_the_store_encrypted(tmp_path, clock):
    sim = make_sim(clock)
    store = LocalStore(tmp_path / "store")
    pod_a = manager(sim, clock, tmp_path / "node-a", store=store)
    pod_b = manager(sim, clock, tmp_path / "node-b", store=store)
    token = run(pod_a.token())
    assert run(pod_b.token()) == token and pod_b.layer == "store"
    assert sim.state.counter("tokens_issued") == 1
    keys = store.list("auth/")
    assert len(keys) == 1 and keys[0].endswith(".enc")
    raw = store.get(keys[0])
    assert token.encode() not in raw and LOCAL_APP_SECRET.encode() not in raw


def test_held_lease_makes_a_pod_wait_for_the_other_pods_token(tmp_path, clock):
    sim = make_sim(clock)
    store = LocalStore(tmp_path / "store")
    issuer_pod = manager(sim, clock, tmp_path / "node-a", store=store)
    waiting_pod = manager(sim, clock, tmp_path / "node-b", store=store)
    store.put(waiting_pod._lease_key,
              b'{"holder": "node-a:1", "expires_at": "2099-01-01T00:00:00+00:00"}')

    async def sleep_and_let_the_other_pod_issue(seconds):
        clock.slept.append(seconds)
        if len(clock.slept) == 3:
            await issuer_pod._issue()
    waiting_pod._sleep = sleep_and_let_the_other_pod_issue
    token = run(waiting_pod.token())
    assert token == run(issuer_pod.token()) and waiting_pod.layer == "store"
    assert sim.state.counter("tokens_issued") == 1


def test_expired_lease_is_taken_over(tmp_path, clock):
    sim = make_sim(clock)
    store = LocalStore(tmp_path / "store")
    m = manager(sim, clock, tmp_path / "c", store=store)
    store.put(m._lease_key, b'{"holder": "dead:1", "expires_at": "2026-11-23T00:00:00+00:00"}')
    run(m.token())
    assert sim.state.counter("tokens_issued") == 1
    assert store.get(m._lease_key) is None


def test_rejected_token_is_dropped_from_every_layer(tmp_path, clock):
    sim = make_sim(clock)
    store = LocalStore(tmp_path / "store")
    m = manager(sim, clock, tmp_path / "c", store=store)
    t1 = run(m.token())
    run(m.reject(t1))
    assert m._disk_get() is None and m._store_get() is None
    sim.tokens.revoke(t1)
    clock.t += timedelta(minutes=2)
    assert run(m.token()) != t1


def test_environments_never_share_tokens(tmp_path, clock):
    sim = make_sim(clock, token_issue_interval_s=0)
    local = manager(sim, clock, tmp_path / "c", env="local")
    paper = manager(sim, clock, tmp_path / "c", env="paper")
    assert local.key_id != paper.key_id
    run(local.token())
    assert paper.status().valid is False


def test_cache_is_private(tmp_path, clock):
    sim = make_sim(clock)
    m = manager(sim, clock, tmp_path / "cache")
    run(m.token())
    assert stat.S_IMODE(os.stat(tmp_path / "cache").st_mode) == 0o700
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)


def test_an_issuance_stamped_in_the_future_never_stalls_for_more_than_one_interval(tmp_path, clock):
    sim = make_sim(FakeClock(), token_issue_interval_s=0, same_token_window_s=0)
    m = manager(sim, clock, tmp_path / "c")
    run(m.token())
    clock.t -= timedelta(days=2)  # e.g. another host's clock, or a simulated market clock
    run(m.refresh())
    assert clock.slept == [60.0]
