"""The macro report through the real google-genai client against the fake Gemini API on
loopback: two passes (grounded research, then JSON), malformed answers, 429s, fallback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fakes.gemini import FakeGemini
from fakes.server import LoopbackServer
from quartz_cli.agents.macro import MacroAgent, MacroRun, load_summary
from quartz_cli.config import load_config
from quartz_cli.domain.macro import MacroView
from quartz_cli.llm.gemini import GeminiClient
from quartz_cli.llm.macro_report import GeminiMacroReporter
from quartz_cli.llm.macro_rules import rule_view
from quartz_cli.sources.factory import open_collectors
from quartz_cli.store.local import LocalStore

MODEL = "gemini-2.5-flash"


def view(n_sentences: int = 10, bias: str = "neutral") -> dict[str, Any]:
    return {
        "positive_view": "- Exports grew **3.6%** year on year.",
        "negative_view": "- The won is near a five-year high against the dollar.",
        "positive_summary": "Exports and easing US policy support Korean equities.",
        "negative_summary": "A weak won could push foreign investors out.",
        "summary": [f"Sentence number {i} explains one point." for i in range(1, n_sentences + 1)],
        "market_bias_hint": bias,
    }


@pytest.fixture
def gemini():
    fake = FakeGemini()
    with LoopbackServer(fake.app) as srv:
        yield fake, srv.url


def run_agent(tmp_path: Path, url: str, attempts: int = 2) -> MacroRun:
    config = load_config()  # local: the sample fakes in-process
    store = LocalStore(tmp_path / "store")
    client = GeminiClient("test-gemini-key", MODEL, base_url=url, timeout_s=10,
                          attempts=attempts)

    async def go() -> MacroRun:
        wired = open_collectors(config)
        try:
            agent = MacroAgent(store, wired.collectors, env="paper", sample_data=True,
                               reporter=GeminiMacroReporter(client), rules=rule_view)
            return await agent.run()
        finally:
            await wired.aclose()

    return asyncio.run(go())


def test_two_passes_grounded_research_then_json(gemini, tmp_path: Path) -> None:
    fake, url = gemini
    fake.sources = [{"uri": "https://www.bok.or.kr/decision", "title": "BOK rate decision"}]
    fake.reply("The BOK held its base rate at 2.50% in November.", view(bias="bullish"))
    result = run_agent(tmp_path, url)
    assert result.summary.engine == f"gemini:{MODEL}"
    assert result.summary.market_bias_hint == "bullish"
    assert len(result.summary.summary) == 10
    web = [c for c in result.summary.cited_sources if c.kind == "web"]
    assert [c.uri for c in web] == ["https://www.bok.or.kr/decision"]
    research, structured = fake.requests
    assert research["body"]["tools"] == [{"googleSearch": {}}]
    assert "responseJsonSchema" not in research["body"].get("generationConfig", {})
    assert "tools" not in structured["body"]
    assert structured["body"]["generationConfig"]["responseMimeType"] == "application/json"
    schema = structured["body"]["generationConfig"]["responseJsonSchema"]
    assert schema["properties"]["summary"]["minItems"] == 10
    assert "2.50% in November" in structured["body"]["contents"][0]["parts"][0]["text"]
    assert "kr.base_rate" in structured["body"]["contents"][0]["parts"][0]["text"]
    assert structured["api_key"] == "test-gemini-key"
    usage = result.report.llm_usage  # both passes: the fake reports 120 + 80 tokens each
    assert usage is not None and usage.prompt_tokens == 240 and usage.output_tokens == 160
    assert usage.cost_usd > 0


def test_malformed_answer_is_retried_once(gemini, tmp_path: Path) -> None:
    fake, url = gemini
    fake.reply("briefing", "{not json", view())
    result = run_agent(tmp_path, url)
    assert result.summary.engine == f"gemini:{MODEL}"
    assert any("retried once" in n for n in result.summary.engine_notes)
    assert len(fake.requests) == 3


def test_malformed_twice_falls_back_to_rules_with_a_note(gemini, tmp_path: Path) -> None:
    fake, url = gemini
    fake.reply("briefing", "{not json", view(n_sentences=9))  # nine sentences: invalid too
    result = run_agent(tmp_path, url)
    assert result.summary.engine.startswith("rules:")
    assert any("malformed JSON twice" in n for n in result.summary.engine_notes)
    assert "rule engine" in result.summary.summary[0]
    MacroView.model_validate(result.report.view.model_dump())  # the schema still holds
    assert len(fake.requests) == 3


def test_429_is_retried_by_the_sdk(gemini, tmp_path: Path) -> None:
    fake, url = gemini
    fake.reply("briefing", 429, view(bias="bearish"))
    result = run_agent(tmp_path, url, attempts=2)
    assert result.summary.engine == f"gemini:{MODEL}"
    assert result.summary.market_bias_hint == "bearish"
    assert len(fake.requests) == 3


def test_persistent_429_falls_back_to_rules(gemini, tmp_path: Path) -> None:
    fake, url = gemini
    fake.reply("briefing", 429, 429)
    result = run_agent(tmp_path, url, attempts=2)
    assert result.summary.engine.startswith("rules:")
    assert any("429" in n and "RESOURCE_EXHAUSTED" in n for n in result.summary.engine_notes)
    assert result.summary.market_bias_hint in ("bullish", "bearish", "neutral")
    outlook = load_summary(LocalStore(tmp_path / "store"))
    assert outlook.summary is not None and outlook.summary.engine.startswith("rules:")


def test_failed_research_pass_still_writes_with_gemini(gemini, tmp_path: Path) -> None:
    fake, url = gemini
    fake.reply(500, 500, view())
    result = run_agent(tmp_path, url, attempts=2)
    assert result.summary.engine == f"gemini:{MODEL}"
    assert any("research pass failed" in n for n in result.summary.engine_notes)
    assert not [c for c in result.summary.cited_sources if c.kind == "web"]


def test_ungrounded_research_is_noted(gemini, tmp_path: Path) -> None:
    fake, url = gemini
    fake.reply("briefing without search", view())
    result = run_agent(tmp_path, url)
    assert any("grounding was requested" in n for n in result.summary.engine_notes)
