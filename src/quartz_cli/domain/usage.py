"""What one LLM call cost: recorded in every document an LLM contributed to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """One LLM call's model, tokens and estimated cost (USD)."""

    model: str
    prompt_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
