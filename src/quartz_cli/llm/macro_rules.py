"""The macro rule engine: the report's schema (`MacroView`) from the statistics alone,
deterministic, used in `local`, without GEMINI_API_KEY, or when Gemini fails. Its output
says that it comes from rules.

Each followed indicator casts at most one vote (+1 supportive for Korean equities, -1
adverse, 0 neutral) by fixed thresholds on the latest value or its year-on-year change. The
bias is `bullish` at a net score of +2 or more, `bearish` at -2 or less, `neutral` in
between, and `uncertain` when fewer than four indicators could be scored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from quartz_cli.domain.macro import (
    SPECS,
    SUMMARY_SENTENCES,
    Bias,
    MacroView,
    SeriesStats,
    SourceStatus,
)
from quartz_cli.ports import LLMResult

ENGINE = "rules:macro-v1"
MIN_SCORED = 4
SHORT_SOURCE = {"ecos": "ECOS", "fred": "FRED", "worldbank": "World Bank"}


@dataclass(frozen=True)
class Signal:
    """One indicator's vote and the sentence that explains it."""

    series: str
    score: int
    sentence: str


def _fmt(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"


def _signed(v: float | None, unit: str, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:+,.{digits}f}{' pp' if unit == 'pp' else '%'}"


def _month(s: SeriesStats) -> str:
    return f"{s.last_period:%Y}" if s.frequency == "A" else f"{s.last_period:%B %Y}"


def _rate(s: SeriesStats, *, easing_is_good: bool = True) -> Signal | None:
    if s.yoy is None:
        return None
    move = "cut" if s.yoy < -0.1 else "raised" if s.yoy > 0.1 else "held"
    score = 0 if move == "held" else (1 if (move == "cut") == easing_is_good else -1)
    text = (f"The {s.name} stands at {_fmt(s.latest)}% in {_month(s)} "
            f"({move}, {_signed(s.yoy, 'pp')} over twelve months)")
    return Signal(s.id, score, text + (", which eases financial conditions." if score > 0 else
                                       ", which tightens financial conditions." if score < 0
                                       else "."))


def _inflation(s: SeriesStats, high: float, low: float) -> Signal | None:
    if s.yoy is None:
        return None
    score = -1 if s.yoy > high else 1 if s.yoy < low else 0
    tail = {-1: f"above the {high:g}% comfort level, which keeps policy tight.",
            1: f"below {low:g}%, which leaves room to ease.",
            0: "within a tolerable range."}[score]
    return Signal(s.id, score, f"{s.name} rose {_signed(s.yoy, '%')} year on year to "
                               f"{_month(s)}, {tail}")


def _won(s: SeriesStats) -> Signal | None:
    if s.yoy is None:
        return None
    score = -1 if s.yoy > 5 else 1 if s.yoy < -3 else 0
    state = ("weakened" if s.yoy > 0 else "strengthened")
    extra = ""
    if s.zscore_5y is not None and s.zscore_5y > 1.5:
        extra = " and sits near a five-year high"
    tail = {-1: ", a headwind that tends to push foreign investors out.",
            1: ", which tends to draw foreign buying.", 0: "."}[score]
    return Signal(s.id, score, f"The won {state} to {_fmt(s.latest, 1)} per dollar on average "
                               f"in {_month(s)} ({_signed(s.yoy, '%')} year on year){extra}{tail}")


def _exports(s: SeriesStats) -> Signal | None:
    if s.yoy is None:
        return None
    score = 1 if s.yoy > 3 else -1 if s.yoy < -3 else 0
    tail = {1: "supporting earnings of exporters.", -1: "a drag on exporters' earnings.",
            0: "broadly flat."}[score]
    return Signal(s.id, score, f"Korean exports changed {_signed(s.yoy, '%')} year on year in "
                               f"{_month(s)}, {tail}")


def _loans(s: SeriesStats) -> Signal | None:
    if s.yoy is None:
        return None
    score = -1 if s.yoy > 5 else 0
    tail = ("a fast build-up of household debt that limits rate cuts." if score else
            "a pace that does not by itself constrain policy.")
    return Signal(s.id, score, f"Household loans grew {_signed(s.yoy, '%')} year on year to "
                               f"{_month(s)}, {tail}")


def _growth(s: SeriesStats, strong: float, weak: float) -> Signal | None:
    score = 1 if s.latest >= strong else -1 if s.latest < weak else 0
    tail = {1: "a supportive backdrop for demand.", -1: "a soft backdrop for demand.",
            0: "a middling backdrop for demand."}[score]
    return Signal(s.id, score, f"{s.name} was {_fmt(s.latest, 1)}% in {_month(s)}, {tail}")


RULES: dict[str, Callable[[SeriesStats], Signal | None]] = {
    "kr.base_rate": _rate,
    "kr.core_cpi": lambda s: _inflation(s, 3.0, 2.5),
    "kr.usdkrw": _won,
    "kr.exports": _exports,
    "kr.household_loans": _loans,
    "us.fed_funds": _rate,
    "us.core_cpi": lambda s: _inflation(s, 3.5, 2.5),
    "world.gdp_growth": lambda s: _growth(s, 3.0, 2.5),
    "kr.gdp_growth": lambda s: _growth(s, 2.5, 1.5),
}


def signals(stats: list[SeriesStats]) -> list[Signal]:
    """Every indicator's vote, in catalogue order."""
    by_id = {s.id: s for s in stats}
    out = []
    for sid, rule in RULES.items():
        if sid in by_id:
            sig = rule(by_id[sid])
            if sig is not None:
                out.append(sig)
    return out


def bias_of(sigs: list[Signal]) -> Bias:
    """The bias the votes add up to (see the module docstring)."""
    if len(sigs) < MIN_SCORED:
        return "uncertain"
    net = sum(s.score for s in sigs)
    return "bullish" if net >= 2 else "bearish" if net <= -2 else "neutral"


def _bullets(sigs: list[Signal], empty: str) -> str:
    return "\n".join(f"- {s.sentence}" for s in sigs) if sigs else f"- {empty}"


def _gaps(sources: list[SourceStatus]) -> list[str]:
    out = []
    for st in sources:
        name = SHORT_SOURCE[st.source]
        if st.state == "fresh":
            continue
        failed = "failed in this run" if st.state == "failed" else "failed for some series"
        if st.reused_series:
            age = f"{st.age_hours:.0f} hours" if st.age_hours is not None else "an unknown time"
            out.append(f"{name} {failed}, so {len(st.reused_series)} series from an earlier "
                       f"run ({age} old) were used.")
        if st.missing_series:
            out.append(f"{name} {failed} and {len(st.missing_series)} of its series have no "
                       f"earlier values, so they are missing from the view.")
    return out


def rule_view(stats: list[SeriesStats], sources: list[SourceStatus], *, sample_data: bool,
              reason: str) -> LLMResult[MacroView]:
    """The report from the statistics alone; `reason` says why rules were used."""
    sigs = signals(stats)
    bias = bias_of(sigs)
    pos = [s for s in sigs if s.score > 0]
    neg = [s for s in sigs if s.score < 0]
    label = " It rests on SAMPLE data (synthetic series), not on real statistics." \
        if sample_data else ""
    footer = (f"\n\n_Written by Quartz's deterministic rule engine ({ENGINE}) from the "
              f"statistics, not by an LLM.{label}_")
    positive_view = ("**Supportive signals for Korean equities**\n\n"
                     + _bullets(pos, "No indicator currently argues for support.") + footer)
    negative_view = ("**Adverse signals for Korean equities**\n\n"
                     + _bullets(neg, "No indicator currently argues against.") + footer)
    scored = len(sigs)
    positive_summary = (f"{len(pos)} of {scored} scored indicators are supportive"
                        + (f", led by the {SPECS[pos[0].series].name}." if pos else "."))
    negative_summary = (f"{len(neg)} of {scored} scored indicators are adverse"
                        + (f", led by the {SPECS[neg[0].series].name}." if neg else "."))
    sentences = [
        "This summary comes from Quartz's deterministic rule engine applied to the statistics, "
        "not from an LLM" + (", and it rests on SAMPLE data." if sample_data else "."),
        f"The market bias hint is {bias}, from {len(pos)} supportive and {len(neg)} adverse "
        f"signals among {scored} scored indicators"
        + (f" (at least {MIN_SCORED} are needed for a directional call)." if bias == "uncertain"
           else "."),
    ]
    sentences += _gaps(sources)
    ranked = sorted(sigs, key=lambda s: -abs(s.score))
    sentences += [s.sentence for s in ranked]
    sentences += [
        f"Statistics were computed for {len(stats)} series from ECOS, FRED and the World Bank.",
        "Monthly series are compared month on month, year on year and against their "
        "five-year range.",
        "Annual World Bank figures lag by one to two years and frame the cycle rather than "
        "time it.",
        "Turning points are confirmed only three months after they occur, so recent ones "
        "may be missing.",
        "The bias hint is one input for position sizing and never bypasses the risk gate.",
        "Rules cannot weigh news, policy statements or market pricing the way an analyst can.",
        f"The rule engine was used because {reason.rstrip('.')}.",
        "A report written by Gemini, when available, replaces this rule-based text.",
        "No indicator moves the bias by more than one vote.",
        "Rerun the macro agent after new data releases to refresh this view.",
    ]
    summary = sentences[:SUMMARY_SENTENCES]
    view = MacroView(positive_view=positive_view, negative_view=negative_view,
                     positive_summary=positive_summary, negative_summary=negative_summary,
                     summary=summary, market_bias_hint=bias)
    return LLMResult(value=view, engine=ENGINE, notes=(reason,))
