"""Gemini through the google-genai SDK: a structured (JSON-schema) call, validated, and a
Google-Search-grounded prose call (`research`) for roles that want web citations.

google-genai is imported on first use. The SDK does not retry by default; transient errors
(429, 5xx) are retried here a bounded number of times. A malformed answer is reported as
LLMError so the caller can retry once and then fall back to its rule engine."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from quartz_cli.domain.usage import Usage
from quartz_cli.errors import LLMError
from quartz_cli.ports import LLMResult, Source

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

# USD per million tokens (input, output), for the cost estimate in documents.
PRICES_PER_M: dict[str, tuple[float, float]] = {
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.0),
    "gemini-3-flash": (0.50, 3.0),
}
DEFAULT_PRICE = (0.50, 3.0)


def estimate_cost(model: str, prompt_tokens: int, output_tokens: int) -> float:
    p_in, p_out = PRICES_PER_M.get(model, DEFAULT_PRICE)
    return (prompt_tokens * p_in + output_tokens * p_out) / 1_000_000


class MalformedAnswer(LLMError):
    """The model answered, but not with JSON that fits the schema."""


class GeminiClient:
    """Async structured generation against the Gemini API (or a fake at `base_url`)."""

    def __init__(self, api_key: str, model: str, *, base_url: str | None = None,
                 timeout_s: float = 60.0, attempts: int = 3) -> None:
        self.model = model
        self._api_key = api_key
        self._base_url = base_url
        self._timeout_ms = int(timeout_s * 1000)
        self._attempts = attempts
        self._client: Any = None

    def _sdk(self) -> Any:
        if self._client is None:
            from google import genai
            from google.genai import types

            options = types.HttpOptions(
                timeout=self._timeout_ms,
                base_url=self._base_url,
                retry_options=types.HttpRetryOptions(
                    attempts=self._attempts, initial_delay=0.5, max_delay=8.0,
                    http_status_codes=[408, 429, 500, 502, 503, 504],
                ),
            )
            self._client = genai.Client(api_key=self._api_key, http_options=options)
        return self._client

    async def research(self, *, system: str, prompt: str,
                       temperature: float = 0.2) -> LLMResult[str]:
        """A Google-Search-grounded prose answer (no JSON schema: models that ignore
        grounding when JSON output is requested still ground plain text). A missing
        grounding is reported in `notes`, not raised."""
        from google.genai import types

        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=temperature,
            tools=[types.Tool(google_search=types.GoogleSearch())],
        )
        resp = await self._call(prompt, config)
        text = (resp.text or "").strip()
        if not text:
            raise MalformedAnswer(f"Gemini {self.model} returned an empty research answer")
        return self._result(resp, text, search=True)

    async def _call(self, prompt: str, config: Any) -> Any:
        import httpx
        from google.genai import errors

        try:
            return await self._sdk().aio.models.generate_content(
                model=self.model, contents=prompt, config=config
            )
        except errors.APIError as exc:
            raise LLMError(f"Gemini {self.model} failed: HTTP {exc.code} {exc.status or ''}"
                           .strip()) from None
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            raise LLMError(f"Gemini {self.model} unreachable: {type(exc).__name__}") from None

    def _result(self, resp: Any, value: Any, *, search: bool) -> LLMResult[Any]:
        meta = resp.usage_metadata
        p_tok = int(getattr(meta, "prompt_token_count", 0) or 0)
        o_tok = int(getattr(meta, "candidates_token_count", 0) or 0)
        sources: list[Source] = []
        notes: list[str] = []
        cand = resp.candidates[0] if resp.candidates else None
        grounding = getattr(cand, "grounding_metadata", None) if cand else None
        if grounding is not None:
            for chunk in grounding.grounding_chunks or []:
                if chunk.web is not None and chunk.web.uri:
                    sources.append(Source(title=chunk.web.title or chunk.web.uri,
                                          uri=chunk.web.uri))
        elif search:
            notes.append("Google Search grounding was requested but the answer carries none")
        return LLMResult(
            value=value,
            engine=f"gemini:{self.model}",
            usage=Usage(self.model, p_tok, o_tok, estimate_cost(self.model, p_tok, o_tok)),
            sources=tuple(sources),
            notes=tuple(notes),
        )

    async def generate(self, *, system: str, prompt: str, schema: type[M],
                       search: bool = False, temperature: float = 0.2) -> LLMResult[M]:
        """Ask for JSON matching `schema`; return it validated, with usage and sources."""
        from google.genai import types

        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=temperature,
            response_mime_type="application/json",
            response_json_schema=schema.model_json_schema(),
            tools=[types.Tool(google_search=types.GoogleSearch())] if search else None,
        )
        resp = await self._call(prompt, config)
        text = resp.text or ""
        try:
            value = schema.model_validate_json(text)
        except ValidationError as exc:
            raise MalformedAnswer(f"Gemini {self.model} answered JSON that does not fit "
                                  f"{schema.__name__} ({exc.error_count()} problem(s))") from None
        return self._result(resp, value, search=search)
