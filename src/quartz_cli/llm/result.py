"""What every LLM role returns: the validated value plus who produced it and at what cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from quartz_cli.domain.usage import Usage

T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    """A web source an LLM cited (Google Search grounding)."""

    title: str
    uri: str


@dataclass(frozen=True)
class LLMResult(Generic[T]):
    """A role's answer. `engine` names what produced it ("gemini:<model>", "openai:<model>",
    or "rules:<name>" for a deterministic engine), so every output can say so."""

    value: T
    engine: str
    usage: Usage | None = None
    sources: tuple[Source, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_rules(self) -> bool:
        return self.engine.startswith("rules:")
