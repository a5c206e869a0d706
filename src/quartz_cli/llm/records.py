"""LLM answers recorded and replayed by the hash of (role, model, prompt).

`RecordingClient` wraps a structured-output client: every answered call is kept in the store
under `llm-records/<hash>.json` (the role, the model, the answer's text and its usage; never
the prompt, which may name holdings). `ReplayClient` answers from those records only: the
same prompt gets the same answer at no cost, and a prompt never recorded fails as an
`LLMCallFailed`, so the decision engine's fallback decides with the rules and says why.
Prompts carry the decision's market time (its as-of), no wall-clock time, so a record made
by a live run is found by a backtest that decides at the same moment on the same inputs."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, Protocol

from quartz_cli.domain.usage import Usage
from quartz_cli.llm.openai import LLMCallFailed, StructuredReply
from quartz_cli.ports import Store

PREFIX = "llm-records"


class StructuredClient(Protocol):
    """What the decision engine asks of an LLM client (`llm.openai.OpenAIClient`)."""

    model: str

    async def structured(self, *, system: str, prompt: str, schema_name: str,
                         schema: dict[str, Any], max_output_tokens: int = 2000,
                         temperature: float = 0.2) -> StructuredReply: ...

    async def aclose(self) -> None: ...


def record_key(role: str, model: str, system: str, prompt: str) -> str:
    """The store key of a call's record: sha256 over the role, the model and the prompts."""
    h = hashlib.sha256()
    for part in (role, model, system, prompt):
        h.update(part.encode())
        h.update(b"\x00")
    return f"{PREFIX}/{h.hexdigest()}.json"


class RecordingClient:
    """`inner`, with every answer it gives recorded in `store`."""

    def __init__(self, inner: StructuredClient, store: Store) -> None:
        self.inner = inner
        self.store = store
        self.model = inner.model

    async def structured(self, *, system: str, prompt: str, schema_name: str,
                         schema: dict[str, Any], max_output_tokens: int = 2000,
                         temperature: float = 0.2) -> StructuredReply:
        reply = await self.inner.structured(
            system=system, prompt=prompt, schema_name=schema_name, schema=schema,
            max_output_tokens=max_output_tokens, temperature=temperature)
        u = reply.usage
        record = {"role": schema_name, "model": self.model, "text": reply.text,
                  "usage": {"prompt_tokens": u.prompt_tokens, "output_tokens": u.output_tokens,
                            "cost_usd": u.cost_usd}}
        await asyncio.to_thread(self.store.put, record_key(schema_name, self.model, system,
                                                           prompt),
                                json.dumps(record, ensure_ascii=False).encode())
        return reply

    async def aclose(self) -> None:
        await self.inner.aclose()


class ReplayClient:
    """Answers from the records in `store` only, at no cost."""

    def __init__(self, store: Store, model: str) -> None:
        self.store = store
        self.model = model

    async def structured(self, *, system: str, prompt: str, schema_name: str,
                         schema: dict[str, Any], max_output_tokens: int = 2000,
                         temperature: float = 0.2) -> StructuredReply:
        key = record_key(schema_name, self.model, system, prompt)
        raw = await asyncio.to_thread(self.store.get, key)
        if raw is None:
            raise LLMCallFailed(f"no recorded {self.model} answer for this prompt "
                                f"({key.rsplit('/', 1)[-1][:12]}…); replay calls no model")
        return StructuredReply(text=json.loads(raw)["text"], usage=Usage(model=self.model))

    async def aclose(self) -> None:
        return None
