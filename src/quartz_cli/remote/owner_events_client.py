"""The account's event log read over the trading server's `GET /api/events`
(`servers.owner_events`): the dashboard's stream in a cluster. Blocking (the stream calls
it from a worker thread)."""

from __future__ import annotations

from typing import Any

import httpx

from quartz_cli.errors import BrokerUnavailable
from quartz_cli.remote.trading_client import check_ws_url, http_base

PATH = "/api/events"


class OwnerEventsClient:
    """Events after a sequence number, from the account's owner."""

    def __init__(self, ws_url: str, token: str, *, timeout_s: float = 10.0) -> None:
        self.ws_url = check_ws_url(ws_url)
        self.base_url = http_base(self.ws_url).rstrip("/")
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0),
                                  headers={"authorization": f"Bearer {token}"})

    def close(self) -> None:
        self._http.close()

    def read(self, after: int, limit: int) -> dict[str, Any]:
        """`{"events": [...], "last_seq": n}`: the events after `after` (at most `limit`)."""
        return self._get(PATH, {"after": str(after), "limit": str(limit)})

    def jobs(self) -> list[dict[str, Any]]:
        """Each job's last run and last success, as the owner's log has them."""
        jobs: list[dict[str, Any]] = self._get(PATH + "/jobs", {})["jobs"]
        return jobs

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            resp = self._http.get(self.base_url + path, params=params)
        except httpx.HTTPError as exc:
            raise BrokerUnavailable(f"the trading agent at {self.base_url} did not answer: "
                                    f"{type(exc).__name__}") from None
        if resp.status_code != 200:
            raise BrokerUnavailable(f"the trading agent's event log answered "
                                    f"{resp.status_code}")
        body: dict[str, Any] = resp.json()
        return body
