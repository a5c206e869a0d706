"""Assembling the decision input from what the other agents know (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from quartz_cli.domain.allowance import allowance_for
from quartz_cli.domain.decision import (
    Constraints,
    DecisionInput,
    FundamentalView,
    MacroSummaryView,
    PortfolioView,
    Quote,
    TechnicalView,
    UniverseEntry,
)


def build_decision_input(
    *,
    now_utc: datetime,
    macro: MacroSummaryView,
    portfolio: PortfolioView,
    tickers: Sequence[tuple[str, str]],
    technical: Mapping[str, TechnicalView],
    fundamentals: Mapping[str, FundamentalView],
    quotes: Mapping[str, Quote],
    constraints: Constraints,
) -> DecisionInput:
    """The seed's structure over `tickers` ((code, name): candidates, then holdings), each
    with its allowance. A ticker without a quote is still listed (HOLD only) when held."""
    entries = []
    seen: set[str] = set()
    for code, name in tickers:
        if code in seen:
            continue
        seen.add(code)
        quote = quotes.get(code)
        pos = portfolio.position(code)
        if quote is None and pos is None:
            continue
        entries.append(UniverseEntry(
            ticker=code,
            name=name,
            price=quote.price if quote else pos.price if pos else 0,
            technical=technical.get(code),
            fundamental=fundamentals.get(code, FundamentalView()),
            held_qty=pos.qty if pos else 0,
            weight=round(portfolio.weight(code), 6),
            allowed=allowance_for(code, quote, portfolio, constraints,
                                  has_technical=code in technical),
        ))
    return DecisionInput(now_utc=now_utc, macro=macro, portfolio=portfolio,
                         universe=tuple(entries), constraints=constraints)
