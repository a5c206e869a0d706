"""KIS OAuth calls: access token (`/oauth2/tokenP`), revoke, WebSocket approval key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from quartz_cli.errors import BrokerError
from quartz_cli.kis.client import KisClient
from quartz_cli.ports import IssuedToken
from quartz_cli.redaction import register_secret

KST = ZoneInfo("Asia/Seoul")


def parse_expiry(text: str | None, expires_in: object, issued_at: datetime) -> datetime:
    """Expiry in UTC from `access_token_token_expired` ("YYYY-MM-DD HH:MM:SS", KST), falling
    back to `expires_in` seconds after issuance."""
    if text:
        try:
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST).astimezone(UTC)
        except ValueError:
            pass
    try:
        return issued_at + timedelta(seconds=int(str(expires_in)))
    except ValueError:
        raise BrokerError("KIS token answer has no usable expiry") from None


async def issue_token(client: KisClient, app_key: str, app_secret: str,
                      now: datetime | None = None) -> IssuedToken:
    """`POST /oauth2/tokenP` (client_credentials). Raises TokenIssueThrottled on EGW00133."""
    issued_at = now or datetime.now(UTC)
    body = await client.post_unauthenticated(
        "/oauth2/tokenP",
        {"grant_type": "client_credentials", "appkey": app_key, "appsecret": app_secret},
    )
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise BrokerError("KIS token answer has no access_token")
    expires_at = parse_expiry(body.get("access_token_token_expired"), body.get("expires_in"),
                              issued_at)
    return IssuedToken(access_token=token, issued_at=issued_at, expires_at=expires_at)


async def revoke_token(client: KisClient, app_key: str, app_secret: str, token: str) -> None:
    """`POST /oauth2/revokeP`."""
    await client.post_unauthenticated(
        "/oauth2/revokeP", {"appkey": app_key, "appsecret": app_secret, "token": token}
    )


async def approval_key(client: KisClient, app_key: str, app_secret: str) -> str:
    """`POST /oauth2/Approval`: the WebSocket approval key (note the field `secretkey`)."""
    body = await client.post_unauthenticated(
        "/oauth2/Approval",
        {"grant_type": "client_credentials", "appkey": app_key, "secretkey": app_secret},
    )
    key = body.get("approval_key")
    if not isinstance(key, str) or not key:
        raise BrokerError("KIS approval answer has no approval_key")
    # It opens the account's WebSocket session for a day: masked wherever text is printed.
    register_secret(key)
    return key
