"""Which KIS domain, TR_ID family and rate limit each environment uses."""

from __future__ import annotations

from dataclasses import dataclass

from quartz_cli.config import Config, Env

REAL_BASE_URL = "https://openapi.koreainvestment.com:9443"
PAPER_BASE_URL = "https://openapivts.koreainvestment.com:29443"
REAL_WS_URL = "ws://ops.koreainvestment.com:21000"
PAPER_WS_URL = "ws://ops.koreainvestment.com:31000"
# The in-process simulator is reached through httpx's ASGI transport under this name.
LOCAL_SIM_URL = "http://kis-sim.local"

# KIS notice of 2026-04-20: 18 REST calls/s per real account, 1/s per paper account.
REAL_RATE_PER_S = 18.0
PAPER_RATE_PER_S = 1.0


@dataclass(frozen=True)
class KisEndpoint:
    """A KIS domain and the protocol variant it speaks."""

    env: Env
    base_url: str
    ws_url: str
    real_tr_ids: bool
    rate_per_s: float
    in_process: bool = False

    def tr_id(self, real_tr_id: str) -> str:
        """The TR_ID for this domain: paper replaces a leading T, J or C with V (quotation
        TR_IDs, which start with F or H, are the same on both)."""
        if not self.real_tr_ids and real_tr_id[:1] in ("T", "J", "C"):
            return "V" + real_tr_id[1:]
        return real_tr_id


def endpoint_for(config: Config) -> KisEndpoint:
    """Resolve the endpoint. `QUARTZ_KIS_BASE_URL` overrides the domain (a simulator served
    on loopback with `quartz sim serve`), `QUARTZ_KIS_WS_URL` its WebSocket (the in-process
    simulator of `local` has none); `QUARTZ_RATE_LIMIT_PER_S` the account's limit."""
    s = config.settings.broker
    if config.env is Env.PROD:
        ep = KisEndpoint(Env.PROD, REAL_BASE_URL, REAL_WS_URL, True, REAL_RATE_PER_S)
    elif config.env is Env.PAPER:
        ep = KisEndpoint(Env.PAPER, PAPER_BASE_URL, PAPER_WS_URL, False, PAPER_RATE_PER_S)
    else:
        # local speaks the paper protocol but the simulator allows the real account's rate,
        # so local runs are not slowed to one call a second.
        ep = KisEndpoint(Env.LOCAL, LOCAL_SIM_URL, "", False, REAL_RATE_PER_S, in_process=True)
    base_url = s.kis_base_url.rstrip("/") if s.kis_base_url else ep.base_url
    return KisEndpoint(
        env=ep.env,
        base_url=base_url,
        ws_url=s.kis_ws_url.rstrip("/") if s.kis_ws_url else ep.ws_url,
        real_tr_ids=ep.real_tr_ids,
        rate_per_s=s.rate_limit_per_s or ep.rate_per_s,
        in_process=ep.in_process and not s.kis_base_url,
    )
