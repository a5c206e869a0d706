"""A fake OpenAI API (`POST /v1/chat/completions`) for the real openai SDK (`base_url=…/v1`).

Script it with `reply(...)`: each item is a JSON-able object (sent as the assistant's
content), a raw string (sent as-is, e.g. malformed JSON), an int HTTP status (an API error
body, with `x-should-retry: false`), or `Delay(seconds, item)` (answer late, for timeouts)."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass(frozen=True)
class Delay:
    seconds: float
    item: Any


class FakeOpenAI:
    def __init__(self, prompt_tokens: int = 900, completion_tokens: int = 300) -> None:
        self.replies: deque[Any] = deque()
        self.requests: list[dict[str, Any]] = []
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.app = Starlette(routes=[
            Route("/v1/chat/completions", self._complete, methods=["POST"]),
        ])

    def reply(self, *items: Any) -> None:
        self.replies.extend(items)

    async def _complete(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("authorization")})
        item = self.replies.popleft() if self.replies else 500
        if isinstance(item, Delay):
            await asyncio.sleep(item.seconds)
            item = item.item
        if isinstance(item, int):
            return JSONResponse({"error": {"message": "scripted error", "type": "server_error",
                                           "param": None, "code": None}},
                                status_code=item, headers={"x-should-retry": "false"})
        content = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
        return JSONResponse({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_764_000_000,
            "model": body.get("model", "gpt-4o-mini"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content,
                                                 "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": self.prompt_tokens,
                      "completion_tokens": self.completion_tokens,
                      "total_tokens": self.prompt_tokens + self.completion_tokens},
        })
