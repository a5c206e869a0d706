"""The one error hierarchy. The CLI turns each class into a message and an exit code.

Exit codes (documented in README.md, stable for scripts):

====  =====================================================
0     success
1     unexpected internal error (a bug: please report it)
2     usage error, or a command that is not implemented yet
3     configuration error (a missing or malformed setting)
4     invalid input (a bad ticker, a malformed file, ...)
5     broker error (KIS answered with an error, or did not answer)
6     store error (the object store is unreachable or refused)
7     data source or LLM error
8     partial failure (some items failed, the others succeeded)
9     refused by a safety rule (risk gate, prod without opt-in), or not confirmed
====  =====================================================
"""

from __future__ import annotations

import errno


class QuartzError(Exception):
    """Base of every error Quartz raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description for `--json` output."""
        out: dict[str, object] = {"error": type(self).__name__, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out


class NotImplementedYet(QuartzError):
    """A command or feature that has not been built: fails loudly instead of pretending."""

    exit_code = 2


class UsageError(QuartzError):
    """The command line itself is wrong in a way the parser cannot see."""

    exit_code = 2


class ConfigError(QuartzError):
    """A setting is missing or malformed; the message names the variable."""

    exit_code = 3


class InputError(QuartzError):
    """User-supplied input is invalid (a ticker, a quantity, a file)."""

    exit_code = 4


class BrokerError(QuartzError):
    """KIS (or the simulator) answered with an error or could not be reached."""

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.status = status

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        if self.code:
            out["code"] = self.code
        if self.status is not None:
            out["http_status"] = self.status
        return out


class RateLimited(BrokerError):
    """The broker refused a call for exceeding the per-second limit (it did not act on it)."""


class TokenRejected(BrokerError):
    """The broker rejected the access token (expired, invalid or revoked)."""


class TokenIssueThrottled(BrokerError):
    """Token issuance was refused because the previous one was too recent."""


class BrokerUnavailable(BrokerError):
    """The broker could not be reached or did not answer.

    `maybe_sent` is True when the request may have reached the broker (a timeout after
    sending): such an order's outcome is unknown and must be reconciled, never re-sent."""

    def __init__(self, message: str, *, maybe_sent: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.maybe_sent = maybe_sent


class StoreError(QuartzError):
    """The object store could not be read or written."""

    exit_code = 6


class LocalStateError(StoreError):
    """A file Quartz keeps on this host (the home, a cache, the token cache, the order
    ledger, the simulator's database) cannot be used. The message names the file, the hint
    says how to recover; `path` is the file."""

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["path"] = self.path
        return out


class LocalStateCorrupt(LocalStateError):
    """A local database or cache file is damaged (not a database, malformed, truncated)."""


# errno → what the operator is told; the rest is reported with the system's own words.
_ERRNO_TEXT = {
    errno.EROFS: "is on a read-only filesystem",
    errno.EACCES: "is not writable by this user (permission denied)",
    errno.EPERM: "is not writable by this user (operation not permitted)",
    errno.ENOSPC: "cannot grow: the disk is full",
    errno.EDQUOT: "cannot grow: the disk quota is exhausted",
    errno.ENOTDIR: "is under a path that is a file, not a folder",
    errno.EISDIR: "is a folder where a file was expected",
}


def local_state_error(path: object, what: str, exc: BaseException, *,
                      fix: str, corrupt_fix: str | None = None) -> LocalStateError:
    """The named error for `exc` (an OSError or a sqlite3 error) met on `what` at `path`:
    read-only, full, missing folder or corrupt, with the fix (`corrupt_fix` for a corrupt
    file when it differs, e.g. the order ledger is restored, never recreated)."""
    text = str(exc).lower()
    if isinstance(exc, OSError) and exc.errno in _ERRNO_TEXT:
        reason = _ERRNO_TEXT[exc.errno]
    elif "readonly" in text or "read-only" in text:
        reason = "is read-only"
    elif "disk is full" in text or "database or disk is full" in text:
        reason = "cannot grow: the disk is full"
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        return LocalStateCorrupt(f"{what} {path} is corrupt ({exc})", path=str(path),
                                 hint=corrupt_fix or fix)
    elif "unable to open" in text:
        reason = "cannot be opened (a missing or unwritable folder)"
    else:
        reason = f"cannot be used ({getattr(exc, 'strerror', None) or exc})"
    return LocalStateError(f"{what} {path} {reason}", path=str(path), hint=fix)


class SourceError(QuartzError):
    """An external data source (ECOS, FRED, World Bank, a news site) failed."""

    exit_code = 7


class LLMError(QuartzError):
    """An LLM call failed or answered something that does not validate."""

    exit_code = 7


class LLMBadAnswer(LLMError):
    """The model answered, but not with something the caller should try to read (a schema
    mismatch, incoherent values): distinct from a failed call in the engine's fallback."""


class PartialFailure(QuartzError):
    """Some items of a batch failed; the others succeeded and were reported."""

    exit_code = 8


class SafetyRefusal(QuartzError):
    """A money-safety rule refused the action (risk gate, prod without opt-in, ...)."""

    exit_code = 9


# --- Failures that show (issue 15): one kind of error, one exit code, across commands. ---


class UnknownTicker(BrokerError, InputError):
    """The broker does not know the code: bad input (exit 4) that only the broker could tell,
    so callers that catch BrokerError for a batch still catch it."""

    exit_code = InputError.exit_code


class TradingAgentUnreachable(BrokerUnavailable):
    """Nothing answered at the trading agent's address on either path (WebSocket, HTTP):
    no order reached it, so nothing was sent to the broker."""

    def __init__(self, ws_url: str, http_url: str, why: str) -> None:
        super().__init__(
            f"the trading agent is unreachable at {ws_url} (HTTP {http_url} tried too): "
            f"{why}; nothing was sent",
            hint="start it (`quartz trade serve`), or check TRADING_AGENT_WS_URL")
        self.ws_url = ws_url
        self.http_url = http_url


class Declined(SafetyRefusal):
    """The operator answered no (or nothing) to a confirmation prompt: nothing was done."""
