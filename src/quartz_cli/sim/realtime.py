"""The simulator's real-time WebSocket, `/tryitout`: order notices (체결통보) as KIS sends them.

- A subscription is one JSON text frame with an approval key from `/oauth2/Approval`,
  `tr_type` 1 and `tr_id` H0STCNI9 (paper protocol) or H0STCNI0 (real); the reply carries
  `OPSP0000 SUBSCRIBE SUCCESS` and a fresh AES-256 key (32 characters) and IV (16).
- From then on every booking of the exchange is pushed as `1|<tr_id>|001|<payload>`, the
  payload Base64 of AES-256-CBC (PKCS#7) of the record's `^`-joined fields: an order accepted
  (CNTG_YN 1), a fill (CNTG_YN 2, this fill's quantity and price), a cancel or revision
  (CNTG_YN 1 with RCTF_CLS 2 or 1). Nothing booked before the subscription is replayed.
- A PINGPONG frame every `pingpong_s`; the client echoes it.
- Bookings reach the socket by tailing the exchange's audit table (`sim_audit`; every 5 ms,
  20 ms after 2 s without bookings), so orders booked by other processes sharing the
  simulator's state are notified too.

KIS's own code for a wrong approval key is undocumented: the simulator answers `SIMW0401`.
What was sent is recorded in `NoticeHub.sent` and the state's counters (`ws_*`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from quartz_cli.domain.krx import KST
from quartz_cli.sim.protocol import json_body

if TYPE_CHECKING:
    from quartz_cli.sim.simulator import Simulator

NOTICE_TR_REAL = "H0STCNI0"
NOTICE_TR_PAPER = "H0STCNI9"
PINGPONG = "PINGPONG"
# How often the audit table is read for new bookings while someone is subscribed: often
# while bookings come in, less when the account has been quiet for a while.
TAIL_INTERVAL_S = 0.005
TAIL_IDLE_INTERVAL_S = 0.02
TAIL_IDLE_AFTER_S = 2.0
# KIS's current 26-field record; a test may ask for another count (SimConfig.notice_fields).
FIELDS = ("CUST_ID", "ACNT_NO", "ODER_NO", "OODER_NO", "SELN_BYOV_CLS", "RCTF_CLS",
          "ODER_KIND", "ODER_COND", "STCK_SHRN_ISCD", "CNTG_QTY", "CNTG_UNPR",
          "STCK_CNTG_HOUR", "RFUS_YN", "CNTG_YN", "ACPT_YN", "BRNC_NO", "ODER_QTY",
          "ACNT_NAME", "ORD_COND_PRC", "ORD_EXG_GB", "POPUP_YN", "FILLER", "CRDT_CLS",
          "CRDT_LOAN_DATE", "CNTG_ISNM40", "ODER_PRC")


def encrypt(key: str, iv: str, text: str) -> str:
    """AES-256-CBC with PKCS#7 padding, Base64 out (what KIS sends for order notices)."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    padder = padding.PKCS7(128).padder()
    data = padder.update(text.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


@dataclass(frozen=True)
class SentNotice:
    """One notice the simulator pushed (for tests): the audit row behind it and its kind."""

    seq: int
    event: str
    odno: str
    cntg_yn: str
    qty: int
    price: int
    at: float


def _reply(tr_id: str, tr_key: str, rt_cd: str, msg_cd: str, msg1: str,
           output: dict[str, str] | None = None) -> str:
    body: dict[str, Any] = {"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1}
    if output is not None:
        body["output"] = output
    # KIS's official client decrypts a stream only when its reply says encrypt Y.
    encrypt = "Y" if output is not None else "N"
    return json.dumps({"header": {"tr_id": tr_id, "tr_key": tr_key, "encrypt": encrypt},
                       "body": body}, ensure_ascii=False)


class NoticeHub:
    """The simulator's WebSocket side: approval keys it issued, live subscriptions, and a
    switch that drops every connection and refuses new ones (to drill a disconnect)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.approval_keys: set[str] = set()
        self.refusing = False
        self.sent: list[SentNotice] = []
        self._sockets: set[WebSocket] = set()

    @property
    def tr_id(self) -> str:
        return NOTICE_TR_REAL if self.sim.config.real_tr_ids else NOTICE_TR_PAPER

    def approve(self, key: str) -> None:
        """Remember an approval key `/oauth2/Approval` issued."""
        self.approval_keys.add(key)

    async def drop_all(self, *, refuse: bool) -> None:
        """Close every connection; with `refuse`, turn new ones away until `refuse` is
        False again."""
        self.refusing = refuse
        for ws in list(self._sockets):
            with contextlib.suppress(RuntimeError):
                await ws.close(code=1012)

    async def endpoint(self, ws: WebSocket) -> None:
        if self.refusing:
            await ws.close(code=1013)
            return
        await ws.accept()
        self._sockets.add(ws)
        self.sim.state.bump("ws_connections")
        tasks: list[asyncio.Task[None]] = [asyncio.create_task(self._pingpong(ws))]
        try:
            while True:
                text = await ws.receive_text()
                task = await self._control(ws, text)
                if task is not None:
                    tasks.append(task)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self._sockets.discard(ws)
            for task in tasks:
                task.cancel()

    async def _control(self, ws: WebSocket, text: str) -> asyncio.Task[None] | None:
        """A client frame: a PINGPONG echo, or a subscription request."""
        try:
            body = json.loads(text)
            header, tr_input = body["header"], body["body"]["input"]
            tr_id, tr_key = str(tr_input["tr_id"]), str(tr_input["tr_key"])
        except (json.JSONDecodeError, KeyError, TypeError):
            try:
                if json.loads(text)["header"]["tr_id"] == PINGPONG:
                    self.sim.state.bump("ws_pongs")
                    return None
            except (json.JSONDecodeError, KeyError, TypeError):
                pass
            await ws.send_text(_reply("", "", "1", "OPSP0007", "JSON PARSING ERROR"))
            return None
        if str(header.get("approval_key", "")) not in self.approval_keys:
            await ws.send_text(_reply(tr_id, tr_key, "1", "SIMW0401",
                                      "invalid approval : NOT FOUND"))
            return None
        if tr_id != self.tr_id or not tr_key:
            await ws.send_text(_reply(tr_id, tr_key, "1", "OPSP0007",
                                      f"invalid tr_id or tr_key for this domain ({tr_id})"))
            return None
        if str(header.get("tr_type")) != "1":
            await ws.send_text(_reply(tr_id, tr_key, "0", "OPSP0001", "UNSUBSCRIBE SUCCESS"))
            return None
        key = secrets.token_hex(16)
        iv = secrets.token_hex(8)
        start = self._last_seq()
        self.sim.state.bump("ws_subscriptions")
        await ws.send_text(_reply(tr_id, tr_key, "0", "OPSP0000", "SUBSCRIBE SUCCESS",
                                  {"iv": iv, "key": key}))
        return asyncio.create_task(self._push(ws, tr_key, key, iv, start))

    async def _pingpong(self, ws: WebSocket) -> None:
        while True:
            await asyncio.sleep(self.sim.config.pingpong_s)
            stamp = self.sim.now().astimezone(KST).strftime("%Y%m%d%H%M%S")
            await ws.send_text(json.dumps({"header": {"tr_id": PINGPONG, "datetime": stamp}}))
            self.sim.state.bump("ws_pings")

    def _last_seq(self) -> int:
        rows = self.sim.state.query("SELECT COALESCE(MAX(seq), 0) AS s FROM sim_audit")
        return int(rows[0]["s"])

    async def _push(self, ws: WebSocket, hts_id: str, key: str, iv: str, after: int) -> None:
        """Send every booking after audit row `after`, in order, until the socket closes."""
        loop = asyncio.get_running_loop()
        active_at = loop.time()
        while True:
            rows = self.sim.state.query(
                "SELECT a.seq, a.at, a.event, a.odno, a.detail, o.cano, o.orgno, o.pdno, "
                "o.side, o.ord_dvsn, o.qty, o.price, o.orgn_odno FROM sim_audit a "
                "JOIN sim_orders o ON o.odno = a.odno WHERE a.seq > ? ORDER BY a.seq",
                (after,))
            for row in rows:
                after = int(row["seq"])
                record = self._record(row, hts_id)
                if record is None:
                    continue
                fields, sent = record
                frame = f"1|{self.tr_id}|001|{encrypt(key, iv, '^'.join(fields))}"
                try:
                    await ws.send_text(frame)
                except (RuntimeError, WebSocketDisconnect):
                    return
                self.sent.append(sent)
                self.sim.state.bump("ws_notices")
            if rows:
                active_at = loop.time()
            idle = loop.time() - active_at > TAIL_IDLE_AFTER_S
            await asyncio.sleep(TAIL_IDLE_INTERVAL_S if idle else TAIL_INTERVAL_S)

    def _record(self, row: Any, hts_id: str) -> tuple[list[str], SentNotice] | None:
        event = row["event"]
        detail = json.loads(row["detail"])
        if event == "filled":
            cntg_yn, rctf, qty, price = "2", "0", int(detail["qty"]), int(detail["price"])
        elif event == "booked":
            cntg_yn, rctf, qty, price = "1", "0", int(row["qty"]), int(row["price"])
        elif event in ("cancelled", "revised"):
            cntg_yn, rctf = "1", "2" if event == "cancelled" else "1"
            qty, price = int(row["qty"]), int(row["price"])
        else:
            return None
        at = datetime.fromtimestamp(float(row["at"]), KST)
        listing = self.sim.market.listing(row["pdno"])
        values = {
            "CUST_ID": hts_id, "ACNT_NO": f"{row['cano']}01", "ODER_NO": row["odno"],
            "OODER_NO": row["orgn_odno"] or "", "SELN_BYOV_CLS": row["side"],
            "RCTF_CLS": rctf, "ODER_KIND": row["ord_dvsn"], "ODER_COND": "0",
            "STCK_SHRN_ISCD": row["pdno"], "CNTG_QTY": f"{qty:010d}",
            "CNTG_UNPR": f"{price:09d}", "STCK_CNTG_HOUR": at.strftime("%H%M%S"),
            "RFUS_YN": "0", "CNTG_YN": cntg_yn, "ACPT_YN": "2" if cntg_yn == "2" else "1",
            "BRNC_NO": row["orgno"], "ODER_QTY": f"{int(row['qty']):010d}",
            "ACNT_NAME": "SIMULATED", "ORD_COND_PRC": "0", "ORD_EXG_GB": "1",
            "POPUP_YN": "N", "FILLER": "", "CRDT_CLS": "10", "CRDT_LOAN_DATE": "",
            "CNTG_ISNM40": listing.name if listing else row["pdno"],
            "ODER_PRC": f"{int(row['price']):09d}",
        }
        fields = [values[name] for name in FIELDS]
        width = int(self.sim.config.notice_fields)
        fields = (fields + [""] * width)[:width]
        return fields, SentNotice(int(row["seq"]), event, row["odno"], cntg_yn, qty, price,
                                  float(row["at"]))


_HUBS: weakref.WeakKeyDictionary[Any, NoticeHub] = weakref.WeakKeyDictionary()


def notice_hub(sim: Simulator) -> NoticeHub:
    """The one NoticeHub of `sim`."""
    found = _HUBS.get(sim)
    if found is None:
        found = _HUBS[sim] = NoticeHub(sim)
    return found


def routes(sim: Simulator) -> list[BaseRoute]:
    hub = notice_hub(sim)

    async def control(request: Request) -> Response:
        # The simulator's own control (like /sim/status): drop every WebSocket, and refuse
        # new ones while `refuse` is true, to drill a disconnect.
        body = await json_body(request) or {}
        await hub.drop_all(refuse=bool(body.get("refuse")))
        return JSONResponse({"refusing": hub.refusing, "sent": len(hub.sent)})

    return [WebSocketRoute("/tryitout", hub.endpoint),
            Route("/sim/realtime", control, methods=["POST"])]
