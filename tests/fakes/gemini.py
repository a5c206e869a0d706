"""A fake Gemini API (`/{v1,v1beta}/models/{model}:generateContent`) for the real google-genai
SDK (3.x sends `v1`; the reference documents `v1beta` for 1.x/2.x).

Script it with `replies`: each item is a JSON-able object (sent as the model's text), a raw
string (sent as-is, e.g. malformed JSON), or an int HTTP status (an API error body)."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_STATUS = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 400: "INVALID_ARGUMENT"}


class FakeGemini:
    def __init__(self) -> None:
        self.replies: deque[Any] = deque()
        self.requests: list[dict[str, Any]] = []
        self.default: Any = None
        self.sources: list[dict[str, str]] = []
        self.app = Starlette(routes=[
            Route("/{version}/models/{model}:generateContent", self._generate, methods=["POST"]),
        ])

    def reply(self, *items: Any) -> None:
        self.replies.extend(items)

    async def _generate(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append({"model": request.path_params["model"], "body": body,
                              "api_key": request.headers.get("x-goog-api-key")})
        item = self.replies.popleft() if self.replies else self.default
        if item is None:
            return JSONResponse({"error": {"code": 500, "message": "no scripted reply",
                                           "status": "INTERNAL"}}, status_code=500)
        if isinstance(item, int):
            return JSONResponse({"error": {"code": item, "message": "scripted error",
                                           "status": _STATUS.get(item, "UNKNOWN")}},
                                status_code=item)
        text = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]},
                                     "finishReason": "STOP"}
        if self.sources:
            candidate["groundingMetadata"] = {
                "webSearchQueries": ["scripted"],
                "groundingChunks": [{"web": s} for s in self.sources],
            }
        return JSONResponse({
            "candidates": [candidate],
            "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 80,
                              "totalTokenCount": 200},
            "modelVersion": request.path_params["model"],
        })
