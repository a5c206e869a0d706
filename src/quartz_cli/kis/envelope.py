"""KIS response envelopes and the mapping of their codes to Quartz errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from quartz_cli.errors import (
    BrokerError,
    RateLimited,
    TokenIssueThrottled,
    TokenRejected,
)
from quartz_cli.kis.codes import (
    BAD_APP_KEY_CODES,
    RATE_LIMIT_CODES,
    TOKEN_REJECTED_CODES,
    TOKEN_THROTTLED_CODE,
)


@dataclass(frozen=True)
class KisResponse:
    """A successful KIS answer: the JSON body and the paging header."""

    status: int
    body: dict[str, Any]
    tr_cont: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def msg_cd(self) -> str:
        return str(self.body.get("msg_cd", ""))

    @property
    def msg(self) -> str:
        return str(self.body.get("msg1", "")).strip()

    @property
    def has_more(self) -> bool:
        """KIS marks further pages with `tr_cont` F or M; D or E is the last page."""
        return self.tr_cont in ("F", "M")

    def output(self, name: str = "output") -> Any:
        """The payload `name` with every key in lower case: KIS's letter case is not
        consistent (order answers are upper case in its examples, lower case in one of its
        samples' column maps), so the client reads keys in lower case whatever arrives."""
        wanted = name.lower()
        for key, value in self.body.items():
            if key.lower() == wanted:
                return lower_keys(value)
        return None


def lower_keys(value: Any) -> Any:
    """`value` with the keys of every object in it (and in lists of objects) lower-cased."""
    if isinstance(value, dict):
        return {str(k).lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def error_from_body(status: int, body: dict[str, Any]) -> BrokerError:
    """Map a failed answer (REST envelope or the OAuth endpoints' own shape) to an error."""
    code = str(body.get("msg_cd") or body.get("error_code") or "").strip()
    text = str(body.get("msg1") or body.get("error_description") or "").strip()
    message = f"KIS {code or 'error'}: {text or 'no message'} (HTTP {status})"
    if code in RATE_LIMIT_CODES:
        return RateLimited(message, code=code, status=status)
    if code in TOKEN_REJECTED_CODES:
        return TokenRejected(message, code=code, status=status,
                             hint="the token will be reissued")
    if code == TOKEN_THROTTLED_CODE:
        return TokenIssueThrottled(message, code=code, status=status,
                                   hint="KIS allows one token issuance a minute")
    if code in BAD_APP_KEY_CODES:
        return BrokerError(message, code=code, status=status,
                           hint="check HANSEC_INVESTMENT_APP_KEY / _APP_SECRET_KEY "
                                "(a trailing newline is a common cause)")
    return BrokerError(message, code=code or None, status=status)


def is_failure(status: int, body: dict[str, Any]) -> bool:
    """Business errors come on HTTP 200 with rt_cd != "0"; gateway errors on 4xx/5xx."""
    if status >= 400:
        return True
    rt_cd = body.get("rt_cd")
    return rt_cd is not None and str(rt_cd) != "0"
