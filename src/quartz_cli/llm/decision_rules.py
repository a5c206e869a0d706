"""The deterministic decision engine: used in `local`, without an OpenAI key, and whenever the
LLM fails, answers badly or is over budget. Every proposal it makes says "rules" in its
engine name and rationale.

Strategy (per analysed ticker, all inputs optional):

* technical score T in [-1, 1], the sum of
  trend (moving averages aligned SMA5 > SMA10 > SMA20: +0.3, the reverse: −0.3; without
  the alignment, SMA5 against SMA20),
  momentum (MACD histogram above 0: +0.3, below: −0.3),
  RSI(14) (below 30, oversold: +0.2; above 70, overbought: −0.2),
  Bollinger %B (below 0: +0.2; above 1: −0.2);
* news sentiment S in [-1, 1] from selection (0 when unknown);
* macro bias M: bullish +0.1, neutral 0, bearish −0.2, uncertain −0.1.

score = 0.6 T + 0.3 S + M, clamped to [-1, 1]. Then:

* BUY when score ≥ 0.25 and buying is allowed, with target weight
  cap × exposure × min(1, score / 0.5), exposure by macro bias (bullish 1.0, neutral 0.8,
  uncertain 0.6, bearish 0.5); only the `max_buy_candidates` best scores; a held ticker
  whose weight is already at the target is held instead;
* SELL (the whole position, target 0) when held and score ≤ −0.25 and selling is allowed;
* HOLD otherwise. Confidence is |score|.
"""

from __future__ import annotations

from quartz_cli.domain.decision import (
    DecisionInput,
    MacroBias,
    Proposal,
    TechnicalView,
    UniverseEntry,
)
from quartz_cli.domain.engine import EngineAnswer
from quartz_cli.domain.orders import Side

NAME = "rules:portfolio-v1"
BUY_AT = 0.25
SELL_AT = -0.25
_MACRO = {MacroBias.BULLISH: 0.1, MacroBias.NEUTRAL: 0.0, MacroBias.BEARISH: -0.2,
          MacroBias.UNCERTAIN: -0.1}
_EXPOSURE = {MacroBias.BULLISH: 1.0, MacroBias.NEUTRAL: 0.8, MacroBias.BEARISH: 0.5,
             MacroBias.UNCERTAIN: 0.6}


def technical_score(t: TechnicalView | None) -> tuple[float, list[str]]:
    """T and the reasons behind it."""
    if t is None:
        return 0.0, ["no technical data"]
    score = 0.0
    why = []
    trend = t.ma_alignment
    if trend is None and t.sma5 is not None and t.sma20 is not None and t.sma5 != t.sma20:
        trend = "bullish" if t.sma5 > t.sma20 else "bearish"
    if trend in ("bullish", "bearish"):
        score += 0.3 if trend == "bullish" else -0.3
        why.append(f"moving averages {trend}")
    if t.macd_hist is not None and t.macd_hist != 0:
        score += 0.3 if t.macd_hist > 0 else -0.3
        why.append(f"MACD histogram {t.macd_hist:+,.1f}")
    if t.rsi14 is not None:
        if t.rsi14 < 30:
            score += 0.2
            why.append(f"RSI {t.rsi14:.0f} oversold")
        elif t.rsi14 > 70:
            score -= 0.2
            why.append(f"RSI {t.rsi14:.0f} overbought")
        else:
            why.append(f"RSI {t.rsi14:.0f}")
    if t.bb_percent_b is not None:
        if t.bb_percent_b < 0:
            score += 0.2
            why.append(f"below the lower Bollinger band (%B {t.bb_percent_b:.2f})")
        elif t.bb_percent_b > 1:
            score -= 0.2
            why.append(f"above the upper Bollinger band (%B {t.bb_percent_b:.2f})")
    return max(-1.0, min(1.0, score)), why


def score_entry(entry: UniverseEntry, bias: MacroBias) -> tuple[float, str]:
    """The strategy's score of one ticker and a one-line rationale."""
    t, why = technical_score(entry.technical)
    s = entry.fundamental.sentiment or 0.0
    m = _MACRO[bias]
    score = max(-1.0, min(1.0, 0.6 * t + 0.3 * s + m))
    if entry.fundamental.sentiment is not None:
        why.append(f"news sentiment {s:+.2f}")
    why.append(f"macro {bias.value}")
    return score, f"rules: {', '.join(why)} → score {score:+.2f}"


def _why_hold(e: UniverseEntry, score: float, target: float, buyers: set[str],
              max_buys: int) -> str:
    """Why a ticker that scores like a buy (or a sell) is held."""
    if score >= BUY_AT:
        if Side.BUY not in e.allowed.sides:
            return f"; buying not allowed ({e.allowed.reason or 'no room'})"
        if e.ticker not in buyers:
            return f"; not among the {max_buys} best buy scores"
        if target <= e.weight:
            return "; already at the target weight"
    if score <= SELL_AT and e.held_qty and Side.SELL not in e.allowed.sides:
        return f"; selling not allowed ({e.allowed.reason or 'nothing sellable'})"
    return ""


class RulesDecisionEngine:
    """The documented strategy above, as a DecisionEngine."""

    name = NAME

    def __init__(self, reason: str = "") -> None:
        self._reason = reason

    async def decide(self, request: DecisionInput) -> EngineAnswer:
        return self.decide_now(request)

    def decide_now(self, request: DecisionInput) -> EngineAnswer:
        """The same answer, synchronously (the strategy does no I/O)."""
        bias = request.macro.market_bias_hint
        c = request.constraints
        cap = float(c.max_single_ticker_weight)
        scored = [(e, *score_entry(e, bias)) for e in request.universe]
        buy_rank = sorted(
            (x for x in scored if x[1] >= BUY_AT and Side.BUY in x[0].allowed.sides),
            key=lambda x: (-x[1], x[0].ticker))
        buyers = {e.ticker for e, _, _ in buy_rank[: c.max_buy_candidates]}
        out = []
        for e, score, why in scored:
            target = round(cap * _EXPOSURE[bias] * min(1.0, score / 0.5), 4) if score > 0 else 0.0
            conf = round(min(1.0, abs(score)), 2)
            if e.ticker in buyers and target > e.weight:
                out.append(Proposal(ticker=e.ticker, side=Side.BUY, target_weight=target,
                                    confidence=conf, rationale=why))
            elif score <= SELL_AT and e.held_qty and Side.SELL in e.allowed.sides:
                out.append(Proposal(ticker=e.ticker, side=Side.SELL, target_weight=0.0,
                                    confidence=conf, rationale=why))
            else:
                out.append(Proposal(ticker=e.ticker, side=None,
                                    target_weight=round(e.weight, 4), confidence=conf,
                                    rationale=why + _why_hold(e, score, target, buyers,
                                                              c.max_buy_candidates)))
        notes = (f"deterministic rule engine ({self._reason})",) if self._reason else (
            "deterministic rule engine",)
        return EngineAnswer(proposals=tuple(out), engine=NAME, notes=notes)
