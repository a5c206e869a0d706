"""The account owner's trading state over HTTP, mounted by the trading server:

- `GET /api/trading-state` → `{"state": "active"|"reduce_only"|"halted", "reason", "updated_at",
  "start_of_day": {"YYYY-MM-DD": won, ...}}` (the owner's durable state: the dashboard's
  and `quartz status`'s P&L today and since the start read the start-of-day values here)
- `POST /api/trading-state` with `{"state": ..., "reason": "..."}` sets it (kept across
  restarts).

Both need `Authorization: Bearer <QUARTZ_INTERNAL_TOKEN>`. The client side is
`app.owner.trading_state_over_http` (`quartz trade halt|reduce-only|resume|state --server`)."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from quartz_cli.agents.owner import AccountOwner
from quartz_cli.domain.pretrade import TradingState
from quartz_cli.errors import InputError
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
            starts = await asyncio.to_thread(owner.states.recorded_start_of_day)
            return JSONResponse(status_json(owner.trading_status()) | {
                "start_of_day": {d.isoformat(): v for d, v in starts.items()}})
        try:
            raw = await request.json()
        except ValueError:
            raw = None
        states = [s.value for s in TradingState]
        if not isinstance(raw, dict) or raw.get("state") not in states:
            err = InputError(f"body is {{\"state\": one of {states}, \"reason\": text}}")
            return JSONResponse({"type": "error", **err.to_dict()}, status_code=422)
        reason = raw.get("reason")
        text = reason[:500] if isinstance(reason, str) else ""
        status = owner.set_trading_state(TradingState(raw["state"]), text)
        return JSONResponse(status_json(status))

    return [Route(PATH, trading_state, methods=["GET", "POST"])]
