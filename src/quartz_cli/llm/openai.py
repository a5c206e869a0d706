"""OpenAI chat completions with structured output (a strict JSON schema), through the openai
SDK (3.x, on httpx2), imported on first use.

Returns the raw JSON text and the usage; the caller validates the text, because a model can
answer with JSON that fits the schema's shape and still says something no code should act
on. Every failure is an LLMError that names the model and the cause, never the key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quartz_cli.domain.usage import Usage
from quartz_cli.errors import LLMError

# USD per million tokens (input, output), for the cost estimate recorded in decisions.
PRICES_PER_M: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
}
# Unknown models are priced like the dearest listed, so budgets err on the safe side.
DEFAULT_PRICE = (2.50, 10.0)


def estimate_cost(model: str, prompt_tokens: int, output_tokens: int) -> float:
    """Estimated USD cost of a call."""
    p_in, p_out = PRICES_PER_M.get(model, DEFAULT_PRICE)
    return (prompt_tokens * p_in + output_tokens * p_out) / 1_000_000


def estimate_prompt_tokens(*texts: str) -> int:
    """A deliberately high token estimate before the call (one token per 3 characters)."""
    return sum(len(t) for t in texts) // 3 + 16


class LLMCallFailed(LLMError):
    """The call did not produce an answer (network, timeout, HTTP error, refusal, cut off).
    `usage` is set when the API reported tokens before failing."""

    def __init__(self, message: str, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class StructuredReply:
    text: str
    usage: Usage


class OpenAIClient:
    """Async structured chat completions against OpenAI (or a fake at `base_url`, which must
    include the `/v1` prefix)."""

    def __init__(self, api_key: str, model: str, *, base_url: str | None = None,
                 timeout_s: float = 30.0, max_retries: int = 1) -> None:
        self.model = model
        self._api_key = api_key
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._client: Any = None

    def _sdk(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(api_key=self._api_key, base_url=self._base_url,
                                       timeout=self._timeout_s, max_retries=self._max_retries)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def structured(self, *, system: str, prompt: str, schema_name: str,
                         schema: dict[str, Any], max_output_tokens: int = 2000,
                         temperature: float = 0.2) -> StructuredReply:
        """Ask for JSON matching `schema` (strict); return the text and the usage."""
        import openai

        try:
            resp = await self._sdk().chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system},
                          {"role": "user", "content": prompt}],
                response_format={"type": "json_schema", "json_schema": {
                    "name": schema_name, "schema": schema, "strict": True}},
                max_completion_tokens=max_output_tokens,
                temperature=temperature,
            )
        except openai.APITimeoutError:
            raise LLMCallFailed(f"OpenAI {self.model} timed out after {self._timeout_s:g} s") \
                from None
        except openai.APIStatusError as exc:
            raise LLMCallFailed(f"OpenAI {self.model} failed: HTTP {exc.status_code}") from None
        except openai.APIError as exc:
            raise LLMCallFailed(f"OpenAI {self.model} unreachable: {type(exc).__name__}") \
                from None
        usage = Usage(model=self.model)
        if resp.usage is not None:
            p_tok = int(resp.usage.prompt_tokens or 0)
            o_tok = int(resp.usage.completion_tokens or 0)
            usage = Usage(self.model, p_tok, o_tok, estimate_cost(self.model, p_tok, o_tok))
        if not resp.choices:
            raise LLMCallFailed(f"OpenAI {self.model} answered no choices", usage)
        choice = resp.choices[0]
        if choice.message.refusal:
            raise LLMCallFailed(f"OpenAI {self.model} refused to answer", usage)
        if choice.finish_reason not in ("stop", None):
            raise LLMCallFailed(f"OpenAI {self.model} stopped early ({choice.finish_reason})",
                                usage)
        return StructuredReply(text=choice.message.content or "", usage=usage)
