import asyncio

import pytest

from fakes.server import LoopbackServer, free_port
from kis_harness import PAGES, make_client, make_sim
from quartz_cli.errors import BrokerError, BrokerUnavailable, RateLimited
from quartz_cli.kis.client import RATE_LIMIT_RETRIES


def run(coro):
    return asyncio.run(coro)


def test_headers_tr_id_family_and_envelope(tmp_path):
    sim = make_sim()

    async def go():
        async with make_client(sim, tmp_path) as kis:
            return await kis.get("/uapi/test/echo", "TTTC9999R", {})

    resp = run(go())
    assert resp.output() == {"custtype": "P", "tr_id": "VTTC9999R"}
    assert resp.msg_cd == "KIOK0510"


def test_business_error_carries_the_brokers_code_and_message(tmp_path):
    sim = make_sim()

    async def go():
        async with make_client(sim, tmp_path) as kis:
            await kis.get("/uapi/test/reject", "TTTC9999R", {})

    with pytest.raises(BrokerError) as err:
        run(go())
    assert err.value.code == "APBK0656" and "해당 종목이 없습니다" in err.value.message
    assert err.value.exit_code == 5


def test_non_json_gateway_error_is_reported(tmp_path):
    sim = make_sim()

    async def go():
        async with make_client(sim, tmp_path) as kis:
            await kis.get("/uapi/test/broken", "TTTC9999R", {})

    with pytest.raises(BrokerError) as err:
        run(go())
    assert err.value.status == 502 and "non-JSON" in err.value.message


def test_client_throttle_keeps_under_the_servers_limit(tmp_path):
    sim = make_sim(rate_limit_per_s=8)

    async def go():
        async with make_client(sim, tmp_path, rate=8) as kis:
            await asyncio.gather(*(kis.get("/uapi/test/echo", "TTTC9999R", {})
                                   for _ in range(20)))
            return kis

    kis = run(go())
    assert sim.state.counter("rate_limited") == 0
    assert kis.rate_limited == 0 and kis.requests_sent == 20
    assert sim.state.counter("requests") == 21  # and one token issuance


def test_rate_limit_answer_is_waited_out_and_retried(tmp_path):
    sim = make_sim(rate_limit_per_s=4)

    async def go():
        async with make_client(sim, tmp_path, rate=50) as kis:
            results = await asyncio.gather(*(kis.get("/uapi/test/echo", "TTTC9999R", {})
                                             for _ in range(10)))
            return kis, results

    kis, results = run(go())
    assert len(results) == 10 and all(r.msg_cd == "KIOK0510" for r in results)
    assert kis.rate_limited > 0
    assert sim.state.counter("rate_limited") == kis.rate_limited


def test_rate_limit_retries_are_bounded(tmp_path):
    sim = make_sim()

    async def go():
        async with make_client(sim, tmp_path, rate=100) as kis:
            await kis.get("/uapi/test/throttled", "TTTC9999R", {})

    with pytest.raises(RateLimited):
        run(go())
    assert sim.state.counter("rate_limited") == RATE_LIMIT_RETRIES + 1


def test_rejected_token_is_dropped_reissued_once_and_the_call_retried(tmp_path):
    sim = make_sim()

    async def go():
        async with make_client(sim, tmp_path) as kis:
            await kis.get("/uapi/test/echo", "TTTC9999R", {})
            first = await kis._tokens.token()
            sim.tokens.revoke_all()  # what KIS does after maintenance
            resp = await kis.get("/uapi/test/echo", "TTTC9999R", {})
            return first, await kis._tokens.token(), resp

    first, second, resp = run(go())
    assert resp.msg_cd == "KIOK0510" and first != second
    assert sim.state.counter("tokens_issued") == 2


def test_paged_get_follows_continuation_keys(tmp_path):
    sim = make_sim()

    async def go():
        async with make_client(sim, tmp_path) as kis:
            return await kis.paged_get("/uapi/test/pages", "TTTC9999R", {})

    pages = run(go())
    assert [p.output("output1")[0]["page"] for p in pages] == [str(i) for i in range(PAGES)]
    assert [p.output("output1")[0]["tr_cont_in"] for p in pages] == ["", "N", "N"]


def test_over_real_http_on_loopback_and_unreachable_broker(tmp_path):
    sim = make_sim()
    with LoopbackServer(sim.app) as srv:
        async def go():
            async with make_client(sim, tmp_path, base_url=srv.url) as kis:
                return await kis.get("/uapi/test/echo", "TTTC9999R", {})

        assert run(go()).output()["tr_id"] == "VTTC9999R"

    async def dead():
        async with make_client(sim, tmp_path / "other",
                               base_url=f"http://127.0.0.1:{free_port()}") as kis:
            await kis.get("/uapi/test/echo", "TTTC9999R", {})

    with pytest.raises(BrokerUnavailable) as err:
        run(dead())
    assert err.value.maybe_sent is False
