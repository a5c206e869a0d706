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
