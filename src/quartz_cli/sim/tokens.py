"""Token issuance as KIS does it: 24 h tokens, the same token again within 6 h, at most one
issuance a minute per app key (EGW00133), revocation."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from quartz_cli.sim.config import SimConfig
from quartz_cli.sim.state import SimState


@dataclass(frozen=True)
class SimToken:
    token: str
    issued_at: float
    expires_at: float


class Throttled(Exception):
    """A second issuance inside the per-minute window."""


def _jwt_like(app_key: str, issued_at: float, expires_at: float) -> str:
    """An opaque token shaped like KIS's JWTs (header.payload.signature)."""
    def b64(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    header = b64({"typ": "JWT", "alg": "HS512"})
    payload = b64({"sub": "quartz-sim", "aud": secrets.token_hex(8), "iat": int(issued_at),
                   "exp": int(expires_at), "jti": secrets.token_hex(8)})
    return f"{header}.{payload}.{secrets.token_urlsafe(48)}"


class TokenAuthority:
    """Issues and checks tokens, persisted in the shared SimState."""

    def __init__(self, state: SimState, config: SimConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.config = config
        self.clock = clock

    def issue(self, app_key: str) -> SimToken:
        try:
            return self._issue(app_key)
        except Throttled:
            self.state.bump("token_throttled")
            raise

    def _issue(self, app_key: str) -> SimToken:
        now = self.clock()
        with self.state.tx() as db:
            row = db.execute(
                "SELECT token, issued_at, expires_at FROM tokens "
                "WHERE app_key = ? AND revoked = 0 ORDER BY issued_at DESC LIMIT 1",
                (app_key,),
            ).fetchone()
            last = db.execute(
                "SELECT MAX(issued_at) AS t FROM tokens WHERE app_key = ?", (app_key,)
            ).fetchone()["t"]
            if last is not None and now - last < self.config.token_issue_interval_s:
                raise Throttled()
            self.state.bump("token_requests", conn=db)
            if row is not None and now - row["issued_at"] < self.config.same_token_window_s \
                    and row["expires_at"] > now:
                return SimToken(row["token"], row["issued_at"], row["expires_at"])
            expires = now + self.config.token_ttl_s
            token = _jwt_like(app_key, now, expires)
            db.execute("INSERT INTO tokens(token, app_key, issued_at, expires_at) VALUES (?,?,?,?)",
                       (token, app_key, now, expires))
            self.state.bump("tokens_issued", conn=db)
            return SimToken(token, now, expires)

    def check(self, token: str, app_key: str) -> str:
        """'ok', 'expired' or 'invalid' (unknown, revoked, or another app key's)."""
        rows = self.state.query(
            "SELECT app_key, expires_at, revoked FROM tokens WHERE token = ?", (token,)
        )
        if not rows or rows[0]["revoked"] or rows[0]["app_key"] != app_key:
            return "invalid"
        if rows[0]["expires_at"] <= self.clock():
            return "expired"
        return "ok"

    def revoke(self, token: str) -> bool:
        with self.state.tx() as db:
            cur = db.execute("UPDATE tokens SET revoked = 1 WHERE token = ? AND revoked = 0",
                             (token,))
            return cur.rowcount > 0

    def revoke_all(self) -> int:
        """Revoke every live token (what KIS does after maintenance)."""
        with self.state.tx() as db:
            return db.execute("UPDATE tokens SET revoked = 1 WHERE revoked = 0").rowcount
