"""The account owner's trading state over HTTP, mounted by the trading server:

- `GET /api/trading-state` → `{"state": "active"|"reduce_only"|"halted", "reason", "updated_at"}`
- `POST /api/trading-state` with `{"state": ..., "reason": "..."}` sets it (kept across
  restarts).

Both need `Authorization: Bearer <QUARTZ_INTERNAL_TOKEN>`. `trading_state_over_http` is the
client side `quartz trade halt|reduce-only|resume|state --server` uses."""

from __future__ import annotations

import hmac
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from quartz_cli.agents.owner import AccountOwner
from quartz_cli.domain.pretrade import TradingState
from quartz_cli.errors import BrokerUnavailable, InputError, QuartzError
from quartz_cli.ports import TradingStatus

PATH = "/api/trading-state"


def status_json(status: TradingStatus) -> dict[str, Any]:
    return {"state": status.state.value, "reason": status.reason,
            "updated_at": status.updated_at.isoformat() if status.updated_at else None}


def admin_routes(owner: AccountOwner, token: str) -> list[Route]:
    """The trading-state routes over `owner`, behind the bearer `token`."""
    expected = f"Bearer {token}".encode()

    def authorized(request: Request) -> bool:
        return hmac.compare_digest(request.headers.get("authorization", "").encode(), expected)

    async def trading_state(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "Unauthorized",
                                 "message": "missing or wrong bearer token"}, status_code=401)
        if request.method == "GET":
            return JSONResponse(status_json(owner.trading_status()))
        try:
            raw = await request.json()
        except ValueError:
            raw = None
        states = [s.value for s in TradingState]
        if not isinstance(raw, dict) or raw.get("state") not in states:
            err = InputError(f"body is {{\"state\": one of {states}, \"reason\": text}}")
            return JSONResponse({"type": "error", **err.to_dict()}, status_code=422)
        reason = raw.get("reason") if isinstance(raw.get("reason"), str) else ""
        status = owner.set_trading_state(TradingState(raw["state"]), reason[:500])
        return JSONResponse(status_json(status))

    return [Route(PATH, trading_state, methods=["GET", "POST"])]


def _http_base(ws_url: str) -> str:
    base = ws_url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
    return base.removesuffix("/ws/orders").rstrip("/")


async def trading_state_over_http(ws_url: str, token: str, state: TradingState | None = None,
                                  reason: str = "") -> dict[str, Any]:
    """Read (or with `state`, set) the trading state of the server at `ws_url`."""
    url = _http_base(ws_url) + PATH
    headers = {"authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            if state is None:
                resp = await http.get(url, headers=headers)
            else:
                resp = await http.post(url, headers=headers,
                                       json={"state": state.value, "reason": reason})
    except httpx.HTTPError as exc:
        raise BrokerUnavailable(f"trading server unreachable: {type(exc).__name__}") from None
    if resp.status_code != 200:
        raise QuartzError(f"trading server answered {resp.status_code}: {resp.text[:200]}")
    body = resp.json()
    assert isinstance(body, dict)
    return body
