"""The notification channels, each speaking its endpoint's HTTP shape:

- Telegram: `POST {api}/bot<token>/sendMessage` with `{"chat_id", "text"}`; the answer is
  `{"ok": true, ...}`, or `{"ok": false, "error_code", "description", "parameters":
  {"retry_after"}}` (429 when throttled);
- Slack incoming webhook: `POST <webhook URL>` with `{"text"}`; the answer is `ok` (200), or
  an error word with 4xx/5xx and `Retry-After` when throttled;
- generic webhook: `POST <URL>` with the event as JSON plus `text`; any 2xx is delivered;
- the store archive: each event as one object in the object store.

Every failure is a `NotificationFailed` whose message is masked (the Telegram URL carries the
bot token, the Slack URL is itself a secret)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from quartz_cli.domain.events import Event
from quartz_cli.errors import QuartzError
from quartz_cli.ports import NotificationFailed, Store
from quartz_cli.redaction import redact

TIMEOUT_S = 10.0
ARCHIVE_PREFIX = "events"


def _retry_after(resp: httpx.Response) -> float | None:
    raw = resp.headers.get("retry-after")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


class _HttpChannel:
    name = "http"

    def __init__(self, http: httpx.AsyncClient | None = None) -> None:
        self._http = http or httpx.AsyncClient(timeout=TIMEOUT_S)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, url: str, body: dict[str, Any]) -> httpx.Response:
        try:
            return await self._http.post(url, json=body)
        except httpx.HTTPError as exc:
            raise NotificationFailed(redact(f"{self.name}: {type(exc).__name__}: {exc}")) from None


class TelegramChannel(_HttpChannel):
    """Telegram Bot API `sendMessage` to one chat."""

    name = "telegram"

    def __init__(self, api_url: str, bot_token: str, chat_id: str,
                 http: httpx.AsyncClient | None = None) -> None:
        super().__init__(http)
        self._url = f"{api_url.rstrip('/')}/bot{bot_token}/sendMessage"
        self._chat_id = chat_id

    async def send(self, text: str, event: Event | None) -> None:
        resp = await self._post(self._url, {"chat_id": self._chat_id, "text": text,
                                            "disable_web_page_preview": True})
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code == 200 and isinstance(body, dict) and body.get("ok") is True:
            return
        params = body.get("parameters") if isinstance(body, dict) else None
        retry = params.get("retry_after") if isinstance(params, dict) else None
        detail = body.get("description") if isinstance(body, dict) else None
        raise NotificationFailed(redact(f"telegram: HTTP {resp.status_code} "
                                        f"{detail or resp.text[:200]}"),
                                 retry_after=float(retry) if isinstance(retry, int | float)
                                 else _retry_after(resp))


class SlackChannel(_HttpChannel):
    """A Slack incoming webhook."""

    name = "slack"

    def __init__(self, webhook_url: str, http: httpx.AsyncClient | None = None) -> None:
        super().__init__(http)
        self._url = webhook_url

    async def send(self, text: str, event: Event | None) -> None:
        resp = await self._post(self._url, {"text": text})
        if resp.status_code == 200:
            return
        raise NotificationFailed(redact(f"slack: HTTP {resp.status_code} {resp.text[:200]}"),
                                 retry_after=_retry_after(resp))


class WebhookChannel(_HttpChannel):
    """A generic JSON webhook: the event (seq, type, time, ids, data) and its text. `seq`
    lets the receiver drop a duplicate."""

    name = "webhook"

    def __init__(self, url: str, http: httpx.AsyncClient | None = None) -> None:
        super().__init__(http)
        self._url = url

    async def send(self, text: str, event: Event | None) -> None:
        body: dict[str, Any] = {"text": text}
        if event is not None:
            body |= {"event": event.as_json()}
        resp = await self._post(self._url, body)
        if 200 <= resp.status_code < 300:
            return
        raise NotificationFailed(redact(f"webhook: HTTP {resp.status_code} {resp.text[:200]}"),
                                 retry_after=_retry_after(resp))


class StoreArchive:
    """The event log copied into the object store, one object per event
    (`events/<account key>/<seq, 12 digits>.json`, written if absent): the log's history next
    to the agents' documents, readable from any pod or host that reads the store."""

    name = "store-archive"

    def __init__(self, store: Store, account: str) -> None:
        self._store = store
        self._prefix = f"{ARCHIVE_PREFIX}/{account}"

    async def send(self, text: str, event: Event | None) -> None:
        if event is None:
            return
        body = json.dumps(event.as_json(), ensure_ascii=False, sort_keys=True).encode()
        key = f"{self._prefix}/{event.seq:012d}.json"
        try:
            await asyncio.to_thread(self._store.put_if_absent, key, body)
        except QuartzError as exc:
            raise NotificationFailed(f"store archive: {exc.message}") from None

    async def aclose(self) -> None:
        pass
