"""KIS real-time order notices (체결통보) over KIS's WebSocket.

The protocol, as confirmed against KIS's official samples (docs/external-apis.md):
1. an approval key from `POST /oauth2/Approval` (`kis.oauth.approval_key`, body field
   `secretkey`);
2. a WebSocket to `<ws base>/tryitout`, one JSON text frame per subscription
   (`tr_type` 1), `tr_id` H0STCNI0 on a real account, H0STCNI9 on a paper one, `tr_key` the
   user's HTS ID;
3. the reply to the subscription: JSON whose `body.output` holds the AES-256 `key` (32
   characters) and `iv` (16) of this subscription;
4. notices: `<enc>|<tr_id>|<count>|<payload>`, `enc` 1 = the payload is Base64 of AES-256-CBC
   (PKCS#7) of `count` records of `^`-separated fields;
5. PINGPONG: a JSON frame whose header `tr_id` is PINGPONG; answered by sending it back as
   text (python-kis, mojito) and as a pong frame (KIS's current sample).

Each record's field count must be a layout Quartz knows (`NOTICE_LAYOUTS`); anything else
raises `NoticeLayoutError` and stops the stream (the fills are still found by the order
inquiry). Notices missed while disconnected are not replayed by KIS, so the caller reconciles
after every (re)subscription (`on_connected`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from quartz_cli.config import Account
from quartz_cli.domain.krx import KST
from quartz_cli.domain.notices import OrderNotice
from quartz_cli.errors import BrokerError
from quartz_cli.kis import codes
from quartz_cli.kis.client import KisClient
from quartz_cli.kis.oauth import approval_key
from quartz_cli.redaction import register_secret

log = logging.getLogger(__name__)

WS_PATH = "/tryitout"
NOTICE_TR_REAL = "H0STCNI0"
NOTICE_TR_PAPER = "H0STCNI9"
PINGPONG = "PINGPONG"
SUBSCRIBE, UNSUBSCRIBE = "1", "2"

# Record layouts by field count. Both agree on the fields Quartz reads (indices 0-15).
# 26: KIS's current samples (ORD_COND_PRC, ORD_EXG_GB, POPUP_YN, FILLER after ACNT_NAME);
# 23: the older layout python-kis parses. Index 3 is OODER_NO in KIS's spec and ODER_QTY in
# one official sample, so Quartz never reads it (nor 16, likewise disputed).
NOTICE_LAYOUTS = {26: "current (KIS samples, 2025-)", 23: "older (python-kis)"}
ACNT_NO, ODER_NO, SELN_BYOV_CLS, RCTF_CLS = 1, 2, 4, 5
STCK_SHRN_ISCD, CNTG_QTY, CNTG_UNPR, STCK_CNTG_HOUR = 8, 9, 10, 11
RFUS_YN, CNTG_YN, ACPT_YN = 12, 13, 14


class NoticeLayoutError(BrokerError):
    """A notice whose layout Quartz does not know: its fields cannot be trusted."""


class NoticeProtocolError(BrokerError):
    """The WebSocket said something Quartz cannot use (refused subscription, undecryptable
    payload): the stream reconnects."""


def notice_tr_id(real_tr_ids: bool) -> str:
    """H0STCNI0 on a real account, H0STCNI9 on a paper one."""
    return NOTICE_TR_REAL if real_tr_ids else NOTICE_TR_PAPER


def subscription(approval_key: str, tr_id: str, tr_key: str, tr_type: str = SUBSCRIBE) -> str:
    """The subscribe (or unsubscribe) frame."""
    return json.dumps({
        "header": {"approval_key": approval_key, "custtype": "P", "tr_type": tr_type,
                   "content-type": "utf-8"},
        "body": {"input": {"tr_id": tr_id, "tr_key": tr_key}}})


def decrypt(key: str, iv: str, payload: str) -> str:
    """AES-256-CBC (key and IV are the reply's UTF-8 strings), Base64 in, PKCS#7 padding."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        raw = base64.b64decode(payload, validate=True)
        decryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode()
    except (ValueError, UnicodeDecodeError):
        raise NoticeProtocolError("a notice could not be decrypted with its subscription's "
                                  "key") from None


def _int(fields: Sequence[str], index: int, what: str) -> int:
    raw = fields[index].strip()
    if not raw.isdigit():
        raise NoticeLayoutError(f"order notice field {index} ({what}) is not a number",
                                hint="KIS changed the notice layout; update kis/realtime.py")
    return int(raw)


def parse_record(fields: Sequence[str], today: datetime) -> OrderNotice:
    """One record (its fields, in a known layout) → an OrderNotice; NoticeLayoutError when its
    flags or numbers do not read as the layout says."""
    kind = codes.notice_kind(fields[RFUS_YN], fields[CNTG_YN], fields[ACPT_YN],
                             fields[RCTF_CLS])
    side = codes.notice_side(fields[SELN_BYOV_CLS])
    if kind is None or side is None:
        raise NoticeLayoutError("an order notice's flags do not read as a known layout "
                                f"({len(fields)} fields)",
                                hint="KIS changed the notice layout; update kis/realtime.py")
    hhmmss = fields[STCK_CNTG_HOUR].strip()
    try:
        at = datetime.strptime(today.astimezone(KST).strftime("%Y%m%d") + hhmmss,
                               "%Y%m%d%H%M%S").replace(tzinfo=KST)
    except ValueError:
        raise NoticeLayoutError(f"order notice field {STCK_CNTG_HOUR} (time) is not HHMMSS",
                                hint="KIS changed the notice layout") from None
    return OrderNotice(kind=kind, order_no=fields[ODER_NO].strip(), side=side,
                       ticker=fields[STCK_SHRN_ISCD].strip(),
                       qty=_int(fields, CNTG_QTY, "quantity"),
                       price=_int(fields, CNTG_UNPR, "price"), at=at)


def split_records(payload: str, count: int) -> list[list[str]]:
    """`count` records of one frame; NoticeLayoutError unless each has a known field count."""
    fields = payload.split("^")
    if count < 1 or len(fields) % count:
        raise NoticeLayoutError(f"an order notice frame of {len(fields)} fields does not hold "
                                f"{count} records", hint="KIS changed the notice layout")
    width = len(fields) // count
    if width not in NOTICE_LAYOUTS:
        known = ", ".join(str(n) for n in NOTICE_LAYOUTS)
        raise NoticeLayoutError(f"an order notice has {width} fields; Quartz knows layouts of "
                                f"{known}", hint="KIS changed the notice layout; update "
                                "NOTICE_LAYOUTS in kis/realtime.py after checking KIS's spec")
    return [fields[i:i + width] for i in range(0, len(fields), width)]


@dataclass
class StreamStatus:
    """What the stream is doing, for readiness and logs (no account data)."""

    connected: bool = False
    subscriptions: int = 0
    notices: int = 0
    pongs: int = 0
    failures: int = 0
    last_error: str = ""
    stopped: str = ""
    subscribed_at: float | None = None


@dataclass
class _Subscription:
    key: str = ""
    iv: str = ""
    live: bool = False


class KisNoticeStream:
    """The `NoticeStream` port over KIS's WebSocket for one account: approval key, connect,
    subscribe, decrypt, PINGPONG, reconnect with back-off. Notices of the HTS user's other
    accounts are dropped."""

    def __init__(self, ws_url: str, approval: Callable[[], Awaitable[str]], *, hts_id: str,
                 tr_id: str, account: Account, clock: Callable[[], datetime],
                 backoff_s: Sequence[float] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
                 open_timeout_s: float = 10.0) -> None:
        self.url = ws_url.rstrip("/") + WS_PATH
        self._approval = approval
        self._approval_key: str | None = None
        self._hts_id = hts_id
        self.tr_id = tr_id
        self._account = account
        self._clock = clock
        self._backoff_s = tuple(backoff_s)
        self._open_timeout_s = open_timeout_s
        self.status = StreamStatus()

    async def run(self, on_notice: Callable[[OrderNotice], Awaitable[None]],
                  on_connected: Callable[[], Awaitable[None]]) -> None:
        """Connect, subscribe and deliver notices until cancelled; reconnect after any
        connection or protocol failure, waiting longer after each consecutive one. A notice
        layout Quartz does not know ends the stream (NoticeLayoutError)."""
        from websockets.exceptions import InvalidHandshake, WebSocketException

        failures = 0
        while True:
            try:
                subscribed = await self._session(on_notice, on_connected)
            except NoticeLayoutError as exc:
                self.status.connected = False
                self.status.stopped = exc.message
                log.error("order notices stopped: %s", exc.message)
                raise
            except (OSError, TimeoutError, InvalidHandshake, WebSocketException,
                    NoticeProtocolError, BrokerError) as exc:
                text = exc.message if isinstance(exc, BrokerError) else type(exc).__name__
                self.status.last_error = text
                subscribed = False
                log.warning("order notice stream down: %s", text)
                if isinstance(exc, NoticeProtocolError):
                    self._approval_key = None
            self.status.connected = False
            self.status.failures += 1
            failures = 0 if subscribed else failures + 1
            await asyncio.sleep(self._backoff_s[min(failures, len(self._backoff_s) - 1)])

    async def _session(self, on_notice: Callable[[OrderNotice], Awaitable[None]],
                       on_connected: Callable[[], Awaitable[None]]) -> bool:
        """One connection, until it closes; True if it got as far as a subscription. A reader
        task stamps each frame as it arrives (and answers PINGPONG at once), so a notice's
        `received_at` is its arrival even while `on_connected` is still reconciling."""
        from websockets.asyncio.client import connect

        if self._approval_key is None:
            self._approval_key = await self._approval()
        sub = _Subscription()
        frames: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue()
        async with connect(self.url, ping_interval=None, open_timeout=self._open_timeout_s,
                           max_size=2**20) as ws:
            self.status.connected = True
            await ws.send(subscription(self._approval_key, self.tr_id, self._hts_id))
            reader = asyncio.create_task(self._read(ws, frames))
            try:
                while (item := await frames.get()) is not None:
                    text, received = item
                    if text[:1] in ("0", "1"):
                        await self._data(text, received, sub, on_notice)
                    elif self._control(text, sub):
                        self.status.subscriptions += 1
                        self.status.subscribed_at = time.monotonic()
                        await on_connected()
            finally:
                reader.cancel()
            error = reader.exception() if reader.done() and not reader.cancelled() else None
            if error is not None:
                raise error
        return sub.live

    async def _read(self, ws: Any, frames: asyncio.Queue[tuple[str, float] | None]) -> None:
        """Queue every frame with its arrival time; echo PINGPONG; None at the end."""
        from websockets.exceptions import ConnectionClosed

        try:
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode()
                if text[:1] == "{" and _is_pingpong(text):
                    # KIS's clients answer either way (a text echo, a pong frame): send both.
                    await ws.send(text)
                    await ws.pong(text.encode())
                    self.status.pongs += 1
                    continue
                frames.put_nowait((text, time.monotonic()))
        except ConnectionClosed:
            pass
        finally:
            frames.put_nowait(None)

    def _control(self, text: str, sub: _Subscription) -> bool:
        """A JSON frame: the reply to our subscription (or another control message). True
        when it is the reply that makes the subscription live."""
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            raise NoticeProtocolError("the notice stream sent a frame that is neither data "
                                      "nor JSON") from None
        header = body.get("header") if isinstance(body, dict) else None
        if not isinstance(header, dict):
            raise NoticeProtocolError("the notice stream sent JSON without a header")
        reply = body.get("body") or {}
        if header.get("tr_id") != self.tr_id:
            return False
        if str(reply.get("rt_cd")) != "0":
            raise NoticeProtocolError(f"the notice subscription was refused: "
                                      f"{reply.get('msg_cd', '?')} {reply.get('msg1', '')}"
                                      .strip())
        output = reply.get("output") or {}
        key, iv = str(output.get("key") or ""), str(output.get("iv") or "")
        if key or iv:
            if len(key) != 32 or len(iv) != 16:
                raise NoticeProtocolError("the subscription reply's AES key/iv have the wrong "
                                          "length")
            register_secret(key)
            sub.key, sub.iv = key, iv
        if sub.live:
            return False
        sub.live = True
        return True

    async def _data(self, text: str, received: float, sub: _Subscription,
                    on_notice: Callable[[OrderNotice], Awaitable[None]]) -> None:
        parts = text.split("|", 3)
        if len(parts) != 4:
            raise NoticeLayoutError("a data frame without its four |-separated parts",
                                    hint="KIS changed the frame format")
        enc, tr_id, count, payload = parts
        if tr_id != self.tr_id:
            return
        if enc == "1":
            if not sub.key:
                raise NoticeProtocolError("an encrypted notice before the subscription's key")
            payload = decrypt(sub.key, sub.iv, payload)
        if not count.isdigit():
            raise NoticeLayoutError("a notice frame's record count is not a number",
                                    hint="KIS changed the frame format")
        today = self._clock()
        for fields in split_records(payload, int(count)):
            account = fields[ACNT_NO].strip()
            if account and account[:8] != self._account.cano:
                continue
            notice = parse_record(fields, today)
            self.status.notices += 1
            await on_notice(replace(notice, received_at=received))


def _is_pingpong(text: str) -> bool:
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return False
    header = body.get("header") if isinstance(body, dict) else None
    return isinstance(header, dict) and header.get("tr_id") == PINGPONG


def notice_stream(kis: KisClient, app_key: str, app_secret: str, *, ws_url: str,
                  real_tr_ids: bool, hts_id: str, account: Account,
                  clock: Callable[[], datetime]) -> KisNoticeStream:
    """The order-notice stream of `account` at `ws_url`, its approval key issued through
    `kis` (H0STCNI0 on a real account, H0STCNI9 on a paper one)."""

    async def approval() -> str:
        return await approval_key(kis, app_key, app_secret)

    return KisNoticeStream(ws_url, approval, hts_id=hts_id, tr_id=notice_tr_id(real_tr_ids),
                           account=account, clock=clock)
