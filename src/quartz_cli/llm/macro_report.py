"""The macro report role: Gemini when it can, the rule engine otherwise.

Gemini runs in two passes because models may silently drop Google Search grounding when JSON
output is requested (reference §5.4): first a grounded prose briefing (its web sources are the
report's citations), then a structured call without tools that turns the statistics and the
briefing into a `MacroView`. A malformed structured answer is retried once; a second one, or
any API failure, falls back to the rule engine with a note saying why."""

from __future__ import annotations

import json
from typing import Protocol

from quartz_cli.domain.macro import SPECS, MacroView, SeriesStats, SourceStatus
from quartz_cli.domain.usage import Usage
from quartz_cli.errors import LLMError
from quartz_cli.llm.gemini import MalformedAnswer
from quartz_cli.llm.macro_rules import rule_view
from quartz_cli.ports import LLMResult, Source


class StructuredLLM(Protocol):
    """The part of GeminiClient the report needs (a loopback fake in tests is the real one)."""

    model: str

    async def research(self, *, system: str, prompt: str,
                       temperature: float = 0.2) -> LLMResult[str]: ...

    async def generate(self, *, system: str, prompt: str, schema: type[MacroView],
                       search: bool = False, temperature: float = 0.2) -> LLMResult[MacroView]: ...


RESEARCH_SYSTEM = (
    "You are a macroeconomic research assistant for a fund that trades Korean equities "
    "(KOSPI, KOSDAQ). Use Google Search to find the latest central bank decisions, inflation "
    "and trade releases, and currency moves for Korea and the US. Answer in concise English "
    "prose, with dates."
)

REPORT_SYSTEM = (
    "You are the macro strategist of a fund that trades Korean equities. From the statistics "
    "and the research briefing you are given, write: a positive view and a negative view for "
    "Korean equities in markdown, citing the numbers; a one- or two-sentence summary of each; "
    "a summary of exactly ten items, each item one complete sentence (write 'US', not 'U.S.', "
    "and avoid abbreviations with periods); and a market_bias_hint of bullish, bearish, "
    "neutral or uncertain (uncertain when the data are too thin or contradictory). Treat "
    "series marked reused or missing with caution and say so."
)


def stats_brief(stats: list[SeriesStats], sources: list[SourceStatus]) -> str:
    """The statistics and source states as compact JSON for a prompt."""
    rows = []
    for s in stats:
        rows.append({
            "series": s.id, "name": s.name, "unit": s.unit, "period": str(s.last_period),
            "latest": round(s.latest, 4), "change_unit": s.change_unit,
            "mom": _r(s.pop), "yoy": _r(s.yoy), "slope_3": _r(s.slope_3),
            "slope_6": _r(s.slope_6), "slope_12": _r(s.slope_12), "zscore_5y": _r(s.zscore_5y),
            "last_turning_point": (
                {"date": str(s.turning_points[-1].date), "kind": s.turning_points[-1].kind}
                if s.turning_points else None),
            "data_age_days": s.data_age_days, "reused_from_earlier_run": s.reused,
        })
    status = [{"source": st.source, "state": st.state, "reused_series": st.reused_series,
               "missing_series": st.missing_series, "reused_age_hours": _r(st.age_hours)}
              for st in sources]
    missing = sorted({sid for st in sources for sid in st.missing_series})
    return json.dumps({"statistics": rows, "sources": status,
                       "missing_series": [SPECS[m].name for m in missing if m in SPECS]},
                      ensure_ascii=False)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


async def gemini_view(llm: StructuredLLM, stats: list[SeriesStats],
                      sources: list[SourceStatus], *, sample_data: bool) -> LLMResult[MacroView]:
    """Gemini's report, or the rule engine's with a note when Gemini fails twice over."""
    brief = stats_brief(stats, sources)
    notes: list[str] = []
    web: tuple[Source, ...] = ()
    research_text = ""
    spent: list[Usage] = []
    try:
        research = await llm.research(
            system=RESEARCH_SYSTEM,
            prompt="Summarise what matters now for Korean equities in these indicators, and "
                   f"anything newer than the data below:\n{brief}")
        research_text = research.value
        web = research.sources
        spent += [research.usage] if research.usage else []
        notes.extend(research.notes)
    except LLMError as exc:
        notes.append(f"grounded research pass failed ({exc.message}); report written "
                     "without web sources")
    prompt = (f"Statistics (JSON):\n{brief}\n\nResearch briefing:\n"
              f"{research_text or '(none available)'}")
    for attempt in (1, 2):
        try:
            result = await llm.generate(system=REPORT_SYSTEM, prompt=prompt, schema=MacroView)
        except MalformedAnswer as exc:
            if attempt == 1:
                notes.append(f"{exc.message}; retried once")
                continue
            return _fallback(stats, sources, sample_data, notes,
                             f"Gemini answered malformed JSON twice ({exc.message})")
        except LLMError as exc:
            return _fallback(stats, sources, sample_data, notes, exc.message)
        spent += [result.usage] if result.usage else []
        return LLMResult(value=result.value, engine=result.engine, usage=_total(spent),
                         sources=web, notes=tuple(notes + list(result.notes)))
    raise AssertionError("unreachable")


def _total(spent: list[Usage]) -> Usage | None:
    """Both passes' tokens and cost as one Usage."""
    if not spent:
        return None
    return Usage(spent[-1].model, sum(u.prompt_tokens for u in spent),
                 sum(u.output_tokens for u in spent), sum(u.cost_usd for u in spent))


def _fallback(stats: list[SeriesStats], sources: list[SourceStatus], sample_data: bool,
              notes: list[str], why: str) -> LLMResult[MacroView]:
    rules = rule_view(stats, sources, sample_data=sample_data,
                      reason=f"the LLM report failed: {why}")
    return LLMResult(value=rules.value, engine=rules.engine, notes=tuple(notes) + rules.notes)


class GeminiMacroReporter:
    """The `MacroReporter` port over a structured LLM (Gemini); `gemini_view` falls back to
    the rule engine when the model fails."""

    def __init__(self, llm: StructuredLLM) -> None:
        self.llm = llm

    async def report(self, stats: list[SeriesStats], sources: list[SourceStatus], *,
                     sample_data: bool) -> LLMResult[MacroView]:
        return await gemini_view(self.llm, stats, sources, sample_data=sample_data)
