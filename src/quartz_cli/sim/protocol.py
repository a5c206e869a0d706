"""KIS wire conventions as the simulator speaks them: envelopes, error shapes, the gateway
checks every `/uapi` call passes (headers, token, TR_ID family, per-second limit)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from quartz_cli.sim.simulator import Simulator


def envelope(msg_cd: str, msg1: str, *, rt_cd: str = "0", status: int = 200,
             tr_id: str = "", tr_cont: str = "", **payload: Any) -> JSONResponse:
    """A REST answer: `rt_cd`, `msg_cd`, `msg1` and the payload; paging in header `tr_cont`,
    and a fresh global transaction id in `gt_uid`, as KIS sends."""
    body = {"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1, **payload}
    headers = {"tr_id": tr_id, "tr_cont": tr_cont, "gt_uid": uuid.uuid4().hex}
    return JSONResponse(body, status_code=status, headers=headers)


def fail(msg_cd: str, msg1: str, *, status: int = 200, tr_id: str = "") -> JSONResponse:
    """A business error (HTTP 200, rt_cd 1) or, with status 500, a gateway error."""
    return envelope(msg_cd, msg1, rt_cd="1", status=status, tr_id=tr_id)


def oauth_fail(error_code: str, description: str) -> JSONResponse:
    """Errors of the token endpoints: HTTP 403 with their own body shape."""
    return JSONResponse({"error_code": error_code, "error_description": description},
                        status_code=403)


async def json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def param(request: Request, name: str, default: str = "") -> str:
    """A query parameter, matched case-insensitively as KIS does for FID_* names."""
    wanted = name.lower()
    for key, value in request.query_params.items():
        if key.lower() == wanted:
            return value
    return default


class Gate:
    """Result of the gateway check: either the caller's app key or an error response."""

    def __init__(self, app_key: str = "", tr_id: str = "", error: JSONResponse | None = None):
        self.app_key = app_key
        self.tr_id = tr_id
        self.error = error


def _wrong_tr_id(sim: Simulator, tr_id: str, allowed: set[str]) -> JSONResponse:
    """A TR_ID this API does not take. A real-account TR_ID on the paper host (or any TR_ID
    of an API the paper host does not have) and a paper one on the real host are answered
    as KIS's hosts answer them (EGW02006 / EGW02005, HTTP 500, from third-party logs:
    docs/external-apis.md); any other with EGW00203."""
    if not sim.config.real_tr_ids and (tr_id[:1] in ("T", "J", "C") or not allowed):
        return fail("EGW02006", "모의투자 TR 이 아닙니다.", status=500, tr_id=tr_id)
    if sim.config.real_tr_ids and tr_id[:1] == "V":
        return fail("EGW02005", "실전투자 TR 이 아닙니다.", status=500, tr_id=tr_id)
    return fail("EGW00203", f"TR_ID {tr_id or '(none)'} is not valid for this API",
                status=500, tr_id=tr_id)


def check_gateway(sim: Simulator, request: Request, allowed_tr_ids: set[str]) -> Gate:
    """What KIS's gateway checks before an API runs, in its order: throttle, token, headers."""
    headers = request.headers
    app_key = headers.get("appkey", "")
    tr_id = headers.get("tr_id", "")
    sim.state.bump("requests")
    if not sim.limiter.allow(app_key or "-"):
        sim.state.bump("rate_limited")
        return Gate(error=fail("EGW00201", "초당 거래건수를 초과하였습니다.", status=500,
                               tr_id=tr_id))
    auth = headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return Gate(error=fail("EGW00205", "credentials_type이 유효하지 않습니다.(Bearer)",
                               status=500, tr_id=tr_id))
    if not app_key or not headers.get("appsecret"):
        return Gate(error=fail("EGW00103", "유효하지 않은 AppKey입니다.", status=500, tr_id=tr_id))
    verdict = sim.tokens.check(auth.removeprefix("Bearer ").strip(), app_key)
    if verdict == "expired":
        return Gate(error=fail("EGW00123", "기간이 만료된 token 입니다.", status=500, tr_id=tr_id))
    if verdict != "ok":
        return Gate(error=fail("EGW00121", "유효하지 않은 token 입니다.", status=500, tr_id=tr_id))
    if tr_id not in allowed_tr_ids:
        return Gate(error=_wrong_tr_id(sim, tr_id, allowed_tr_ids))
    sim.state.bump(f"served:{tr_id}")
    return Gate(app_key=app_key, tr_id=tr_id)
