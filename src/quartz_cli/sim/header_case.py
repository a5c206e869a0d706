"""Response header names in KIS's casing.

KIS sends the standard HTTP headers capitalised (`Content-Type`, `Content-Length`) and its
own headers in lower case (`tr_id`, `tr_cont`, `gt_uid`). KIS's sample client depends on
that: it keeps only the lower-case names and turns them into namedtuple fields, so a
lower-case `content-length` crashes it (`examples_user/kis_auth.py`, `_setHeader`).
Starlette and uvicorn write every name in lower case; this middleware restores KIS's."""

from __future__ import annotations

from email.utils import formatdate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# KIS's own response headers, sent lower case (they are identifiers in KIS's sample client).
KIS_HEADERS = frozenset({b"tr_id", b"tr_cont", b"gt_uid"})


def kis_case(name: bytes) -> bytes:
    """`content-type` → `Content-Type`; KIS's own names stay lower case."""
    lower = name.lower()
    if lower in KIS_HEADERS:
        return lower
    return b"-".join(part[:1].upper() + part[1:] for part in lower.split(b"-"))


class KisHeaderCase:
    """ASGI middleware: rewrite response header names to KIS's casing and add `Date` (the
    server's own lower-case `date` is turned off in `quartz sim serve`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def cased(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(kis_case(k), v) for k, v in message.get("headers", [])]
                if not any(k == b"Date" for k, _ in headers):
                    headers.append((b"Date", formatdate(usegmt=True).encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, cased)
