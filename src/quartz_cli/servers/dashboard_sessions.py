"""Dashboard logins as signed cookies, so any replica of `quartz serve` accepts a session
another one made, and a restart logs nobody out.

The cookie is `<payload>.<signature>`: the payload (base64url JSON) holds the role, the
expiry, a random session id and a fingerprint of the login token it came from; the signature
is HMAC-SHA256 under a key derived from the server secret (QUARTZ_INTERNAL_TOKEN, which every
pod gets from the k8s Secret; else the operator token). The CSRF token is an HMAC of the
session id under the same key, so nothing is kept per session. Rotating the server secret
ends every session; rotating a login token ends the sessions made with it.

Logout revokes: the session id goes into the store under `dashboard-sessions/revoked/`
(named `<expiry>-<id>`, so a list tells everything), which every replica lists at most every
REVOKED_TTL_S seconds; the replica that logged out knows at once."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from quartz_cli.config import Config
from quartz_cli.errors import QuartzError
from quartz_cli.ports import Store

OPERATOR, VIEWER = "operator", "viewer"
REVOKED_PREFIX = "dashboard-sessions/revoked/"
#: Seconds a replica trusts its last list of revoked sessions.
REVOKED_TTL_S = 5.0
_KEY_LABEL = b"quartz dashboard session v1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    """A verified login: its role, CSRF token, expiry (epoch seconds) and id."""

    role: str
    csrf: str
    expires: float
    sid: str

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "csrf": self.csrf,
                "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires))}


def login_tokens(config: Config) -> list[tuple[str, str]]:
    """(token, role) pairs that log in: the operator's (QUARTZ_DASHBOARD_OPERATOR_TOKEN, else
    the internal token) and the viewer's if set."""
    from quartz_cli.app.internal_token import check_internal_token, internal_token

    board = config.settings.dashboard
    out = []
    if board.operator_token is not None:
        out.append((check_internal_token(board.operator_token.get_secret_value(),
                                         server="dashboard"), OPERATOR))
    else:
        # Without any token there is no operator login: the API answers 503 with the fix.
        with contextlib.suppress(QuartzError):
            out.append((internal_token(config), OPERATOR))
    if board.viewer_token is not None:
        out.append((check_internal_token(board.viewer_token.get_secret_value(),
                                         server="dashboard"), VIEWER))
    return out


def _server_secret(config: Config, tokens: list[tuple[str, str]]) -> bytes | None:
    from quartz_cli.app.internal_token import internal_token

    with contextlib.suppress(QuartzError):
        return internal_token(config).encode()
    operator = [t for t, role in tokens if role == OPERATOR]
    return operator[0].encode() if operator else None


class Sessions:
    """Make, verify and revoke signed sessions (see the module's docstring)."""

    def __init__(self, config: Config, store: Store, lifetime_s: float) -> None:
        tokens = login_tokens(config)
        self._tokens = [(token.encode(), role) for token, role in tokens]
        secret = _server_secret(config, tokens)
        self._key = hmac.new(secret or b"", _KEY_LABEL, hashlib.sha256).digest()
        self._prints = {role: self._mac(b"token:" + token)[:16] for token, role in self._tokens}
        self.store = store
        self.lifetime_s = lifetime_s
        self._revoked: dict[str, float] = {}
        self._revoked_read_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def _mac(self, data: bytes) -> str:
        return _b64(hmac.new(self._key, data, hashlib.sha256).digest())

    def login(self, token: str) -> tuple[str, Session] | None:
        """The cookie value and session for a login token, or None if it logs nobody in."""
        given = token.encode()
        role = None
        for expected, name in self._tokens:
            # Every token is compared (constant time), so timing tells nothing of which matched.
            if hmac.compare_digest(given, expected) and role is None:
                role = name
        if role is None:
            return None
        sid = secrets.token_urlsafe(18)
        expires = int(time.time() + self.lifetime_s)
        payload = _b64(json.dumps({"r": role, "x": expires, "i": sid, "f": self._prints[role]},
                                  separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload.encode())}", self._session(role, expires, sid)

    def _session(self, role: str, expires: float, sid: str) -> Session:
        return Session(role, self._mac(b"csrf:" + sid.encode())[:32], expires, sid)

    def verify(self, cookie: str | None) -> Session | None:
        """The session a cookie carries if its signature, expiry and login token hold and it
        is not known to be revoked (this replica's last list of revocations)."""
        if not cookie or "." not in cookie or not self._tokens:
            return None
        payload, _, signature = cookie.partition(".")
        if not hmac.compare_digest(signature.encode(), self._mac(payload.encode()).encode()):
            return None
        try:
            data = json.loads(_unb64(payload))
            role, expires, sid, stamp = data["r"], float(data["x"]), str(data["i"]), data["f"]
        except (ValueError, KeyError, TypeError):
            return None
        if expires <= time.time() or self._prints.get(role) != stamp or sid in self._revoked:
            return None
        return self._session(role, expires, sid)

    async def refresh_revoked(self) -> None:
        """Read the store's revocations if this replica's list is older than REVOKED_TTL_S;
        delete the expired ones. A store that fails keeps the last list (logged out
        sessions stay out on the replica that did it)."""
        async with self._lock:
            if time.monotonic() - self._revoked_read_at < REVOKED_TTL_S:
                return
            try:
                keys = await asyncio.to_thread(self.store.list, REVOKED_PREFIX)
            except QuartzError:
                return
            now = time.time()
            for key in keys:
                expires, _, sid = key.removeprefix(REVOKED_PREFIX).partition("-")
                if not expires.isdigit():
                    continue
                if int(expires) <= now:
                    with contextlib.suppress(QuartzError):
                        await asyncio.to_thread(self.store.delete, key)
                    continue
                self._revoked[sid] = float(expires)
            self._revoked = {s: x for s, x in self._revoked.items() if x > now}
            self._revoked_read_at = time.monotonic()

    async def revoke(self, session: Session) -> None:
        """End `session` here at once and, through the store, on every replica."""
        self._revoked[session.sid] = session.expires
        key = f"{REVOKED_PREFIX}{int(session.expires)}-{session.sid}"
        await asyncio.to_thread(self.store.put, key, b"{}")
