"""`/oauth2/tokenP`, `/oauth2/revokeP`, `/oauth2/Approval` and `/uapi/hashkey`."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from quartz_cli.sim.protocol import json_body, oauth_fail
from quartz_cli.sim.realtime import notice_hub
from quartz_cli.sim.tokens import Throttled

if TYPE_CHECKING:
    from quartz_cli.sim.simulator import Simulator

KST = ZoneInfo("Asia/Seoul")


def routes(sim: Simulator) -> list[Route]:
    async def token_p(request: Request) -> Response:
        sim.state.bump("requests")
        body = await json_body(request)
        if not body or body.get("grant_type") != "client_credentials":
            return oauth_fail("EGW00002", "grant_type 또는 요청 본문이 올바르지 않습니다.")
        if not body.get("appkey"):
            return oauth_fail("EGW00103", "유효하지 않은 AppKey입니다.")
        if not body.get("appsecret"):
            return oauth_fail("EGW00105", "유효하지 않은 AppSecret입니다.")
        try:
            tok = sim.tokens.issue(str(body["appkey"]))
        except Throttled:
            return oauth_fail("EGW00133", "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)")
        expired = datetime.fromtimestamp(tok.expires_at, KST).strftime("%Y-%m-%d %H:%M:%S")
        return JSONResponse({
            "access_token": tok.token,
            "access_token_token_expired": expired,
            "token_type": "Bearer",
            "expires_in": round(tok.expires_at - sim.clock()),
        })

    async def revoke_p(request: Request) -> Response:
        sim.state.bump("requests")
        body = await json_body(request) or {}
        if not sim.tokens.revoke(str(body.get("token", ""))):
            return oauth_fail("EGW00121", "유효하지 않은 token 입니다.")
        return JSONResponse({"code": 200, "message": "접근토큰 폐기에 성공하였습니다"})

    async def approval(request: Request) -> Response:
        sim.state.bump("requests")
        body = await json_body(request) or {}
        if not body.get("appkey") or not body.get("secretkey"):
            return oauth_fail("EGW00103", "appkey/secretkey가 필요합니다.")
        sim.state.bump("approval_keys")
        key = str(uuid.UUID(bytes=secrets.token_bytes(16)))
        notice_hub(sim).approve(key)
        return JSONResponse({"approval_key": key})

    async def hashkey(request: Request) -> Response:
        sim.state.bump("requests")
        if not sim.limiter.allow(request.headers.get("appkey", "-")):
            sim.state.bump("rate_limited")
            return JSONResponse({"rt_cd": "1", "msg_cd": "EGW00201",
                                 "msg1": "초당 거래건수를 초과하였습니다."}, status_code=500)
        body = await json_body(request)
        if body is None:
            return oauth_fail("EGW00002", "요청 본문이 JSON이 아닙니다.")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return JSONResponse({"BODY": body, "HASH": digest})

    return [
        Route("/oauth2/tokenP", token_p, methods=["POST"]),
        Route("/oauth2/revokeP", revoke_p, methods=["POST"]),
        Route("/oauth2/Approval", approval, methods=["POST"]),
        Route("/uapi/hashkey", hashkey, methods=["POST"]),
    ]
