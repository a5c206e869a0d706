"""Async REST client for KIS: headers, TR_IDs, throttling, error mapping and the two safe
retries (an inquiry refused for rate → wait and retry; rejected token → refresh once and
retry)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Protocol

import httpx

from quartz_cli.errors import BrokerError, BrokerUnavailable, RateLimited, TokenRejected
from quartz_cli.kis.endpoints import KisEndpoint
from quartz_cli.kis.envelope import KisResponse, error_from_body, is_failure
from quartz_cli.kis.ratelimit import RateLimiter
from quartz_cli.metrics import broker_call, metrics

log = logging.getLogger(__name__)

RATE_LIMIT_RETRIES = 5


class TokenSource(Protocol):
    """Where the client gets its access token (the auth agent implements this)."""

    async def token(self) -> str:
        """A valid access token, issuing one if needed."""

    async def reject(self, token: str) -> None:
        """The broker refused `token`: drop it everywhere so the next call reissues."""


def _json_body(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"msg_cd": "", "msg1": f"non-JSON answer: {resp.text[:120]!r}"}
    return body if isinstance(body, dict) else {"msg1": "unexpected JSON shape", "output": body}


class KisClient:
    """One account's REST session against one KIS domain (real, paper or the simulator)."""

    def __init__(
        self,
        endpoint: KisEndpoint,
        app_key: str,
        app_secret: str,
        tokens: TokenSource | None,
        http: httpx.AsyncClient,
        *,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._app_key = app_key
        self._app_secret = app_secret
        self._tokens = tokens
        self.http = http
        self.limiter = limiter or RateLimiter(endpoint.rate_per_s)
        self.requests_sent = 0
        self.rate_limited = 0
        # The broker's last answer (monotonic seconds) and whether the latest call got none:
        # what readiness reads instead of calling the broker.
        self.answered_at: float | None = None
        self.unreachable = False

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> KisClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def tr_id(self, real_tr_id: str) -> str:
        return self.endpoint.tr_id(real_tr_id)

    def _headers(self, token: str | None, tr_id: str | None, tr_cont: str) -> dict[str, str]:
        headers = {
            "content-type": "application/json; charset=utf-8",
            "appkey": self._app_key,
            "appsecret": self._app_secret,
        }
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        if tr_id is not None:
            headers["tr_id"] = tr_id
            headers["custtype"] = "P"
            headers["tr_cont"] = tr_cont
        return headers

    async def _send_once(self, method: str, path: str, headers: dict[str, str],
                         params: dict[str, str] | None,
                         body: dict[str, Any] | None) -> httpx.Response:
        asked = time.monotonic()
        slot = await self.limiter.acquire()
        metrics().rate_budget_wait.observe(time.monotonic() - asked)
        self.requests_sent += 1
        try:
            resp = await self.http.request(
                method, self.endpoint.base_url + path, headers=headers, params=params,
                content=json.dumps(body, ensure_ascii=False).encode() if body is not None else None,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            self.unreachable = True
            raise BrokerUnavailable(
                f"cannot reach KIS at {self.endpoint.base_url}: {type(exc).__name__}",
                hint="the request was not sent",
            ) from None
        except httpx.HTTPError as exc:
            self.unreachable = True
            raise BrokerUnavailable(
                f"no answer from KIS for {method} {path}: {type(exc).__name__}",
                maybe_sent=True,
                hint="the request may have reached the broker; its outcome is unknown",
            ) from None
        finally:
            self.limiter.release(slot)
        self.answered_at = time.monotonic()
        self.unreachable = False
        return resp

    async def request(
        self,
        method: str,
        path: str,
        real_tr_id: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        tr_cont: str = "",
        extra_headers: dict[str, str] | None = None,
        exact_tr_id: bool = False,
    ) -> KisResponse:
        """Send one API call. Retries only where the broker certainly did not act on it: an
        inquiry (GET) refused for rate (EGW00201, waited out, bounded) and a rejected token
        (refreshed once). An order refused for rate is raised to the caller."""
        if self._tokens is None:
            raise BrokerError("this KIS client has no token source")
        # A real-only API keeps its TR_ID on the paper domain (there is no paper variant).
        tr_id = real_tr_id if exact_tr_id else self.tr_id(real_tr_id)
        token_refreshed = False
        rate_retries = 0
        while True:
            token = await self._tokens.token()
            headers = self._headers(token, tr_id, tr_cont)
            if extra_headers:
                headers.update(extra_headers)
            started = time.monotonic()
            try:
                resp = await self._send_once(method, path, headers, params, body)
            except BrokerUnavailable:
                broker_call(real_tr_id, "unavailable", None)
                raise
            elapsed = time.monotonic() - started
            payload = _json_body(resp)
            log.debug("KIS %s %s tr_id=%s -> %s %s", method, path, tr_id, resp.status_code,
                      payload.get("msg_cd", ""))
            if not is_failure(resp.status_code, payload):
                broker_call(real_tr_id, "ok", elapsed)
                return KisResponse(status=resp.status_code, body=payload,
                                   tr_cont=resp.headers.get("tr_cont", ""),
                                   headers=dict(resp.headers))
            err = error_from_body(resp.status_code, payload)
            broker_call(real_tr_id, "rate_limited" if isinstance(err, RateLimited) else
                        "token_rejected" if isinstance(err, TokenRejected) else "rejected",
                        elapsed)
            if isinstance(err, RateLimited):
                self.rate_limited += 1
                await self.limiter.back_off()
                # Only inquiries are retried here; an order refused for rate goes back to the
                # trading agent, which alone decides whether to send it again.
                if method == "GET" and rate_retries < RATE_LIMIT_RETRIES:
                    rate_retries += 1
                    log.info("KIS rate limit (%s); waiting before retry %d", err.code,
                             rate_retries)
                    continue
                raise err
            if isinstance(err, TokenRejected) and not token_refreshed:
                token_refreshed = True
                log.info("KIS rejected the token (%s); reissuing once", err.code)
                await self._tokens.reject(token)
                continue
            raise err

    async def get(self, path: str, real_tr_id: str, params: dict[str, str], *,
                  tr_cont: str = "", exact_tr_id: bool = False) -> KisResponse:
        """A GET inquiry (parameters in the query string)."""
        return await self.request("GET", path, real_tr_id, params=params, tr_cont=tr_cont,
                                  exact_tr_id=exact_tr_id)

    async def post(self, path: str, real_tr_id: str, body: dict[str, Any], *,
                   hashkey: bool = False) -> KisResponse:
        """A POST with an UPPERCASE-keyed JSON body; `hashkey` adds the tamper-check header."""
        extra = {"hashkey": await self.hashkey(body)} if hashkey else None
        return await self.request("POST", path, real_tr_id, body=body, extra_headers=extra)

    async def post_unauthenticated(self, path: str, body: dict[str, Any],
                                   headers: dict[str, str] | None = None) -> dict[str, Any]:
        """POST to the OAuth/hashkey endpoints (no bearer token; their own error shape)."""
        sent = {"content-type": "application/json; charset=utf-8", **(headers or {})}
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            resp = await self._send_once("POST", path, sent, None, body)
            payload = _json_body(resp)
            if not is_failure(resp.status_code, payload):
                return payload
            err = error_from_body(resp.status_code, payload)
            if isinstance(err, RateLimited) and attempt < RATE_LIMIT_RETRIES:
                self.rate_limited += 1
                await self.limiter.back_off()
                continue
            raise err
        raise AssertionError("unreachable")

    async def hashkey(self, body: dict[str, Any]) -> str:
        """`POST /uapi/hashkey`: the HASH of an order body, sent as header `hashkey`."""
        payload = await self.post_unauthenticated(
            "/uapi/hashkey", body, {"appkey": self._app_key, "appsecret": self._app_secret}
        )
        value = payload.get("HASH")
        if not isinstance(value, str):
            raise BrokerError("KIS hashkey answer has no HASH")
        return value

    async def paged_get(self, path: str, real_tr_id: str, params: dict[str, str], *,
                        key_size: int = 100, max_pages: int = 50,
                        page_delay_s: float = 0.0) -> list[KisResponse]:
        """Follow KIS continuation (`tr_cont` + `CTX_AREA_FK/NK<size>`) to the last page."""
        fk, nk = f"CTX_AREA_FK{key_size}", f"CTX_AREA_NK{key_size}"
        query = {**params, fk: params.get(fk, ""), nk: params.get(nk, "")}
        pages = [await self.get(path, real_tr_id, query)]
        while pages[-1].has_more and len(pages) < max_pages:
            last = pages[-1].body
            query = {**query, fk: str(last.get(fk.lower(), "")), nk: str(last.get(nk.lower(), ""))}
            if page_delay_s:
                await asyncio.sleep(page_delay_s)
            pages.append(await self.get(path, real_tr_id, query, tr_cont="N"))
        return pages
