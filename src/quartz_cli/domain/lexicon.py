"""An offline sentiment scorer for Korean financial news: a small hand-curated keyword
lexicon (no open-licensed Korean finance lexicon exists; see the data-sources reference).

It scores the sentences that mention a company. Phrases that reverse a keyword
("우려 해소", "적자 축소") are read first and claim their span. Score = (P − N) / (P + N + 1)
over the weighted hits, in (−1, 1); no hit → 0. It is a rule engine and says so:
its engine name is `rules:finance-lexicon`."""

from __future__ import annotations

from dataclasses import dataclass

ENGINE = "rules:finance-lexicon"

# keyword → weight (positive or negative). Longer phrases are matched first.
LEXICON: dict[str, float] = {
    # reversals first by length
    "우려 해소": 1.0, "우려를 해소": 1.0, "적자 축소": 1.0, "적자폭 축소": 1.0, "부진 탈출": 1.0,
    "하락 멈춰": 0.5, "리스크 해소": 1.0, "흑자전환": 2.0, "흑자 전환": 2.0,
    "적자전환": -2.0, "적자 전환": -2.0,
    # positive
    "사상 최대": 1.5, "최대 실적": 1.5, "호실적": 1.5, "어닝 서프라이즈": 1.5, "수주": 1.0,
    "공급 계약": 1.0, "계약을 체결": 0.5, "계약 체결": 0.5, "목표가 상향": 1.5, "상향": 0.5,
    "신고가": 1.0, "급등": 1.0, "강세": 1.0, "상승": 0.5, "호조": 1.0, "성장": 0.5,
    "증가": 0.5, "개선": 0.5, "자사주 매입": 1.0, "배당 확대": 1.0, "주주환원": 0.5,
    "기대감": 0.5, "수혜": 1.0, "회복": 0.5, "승인": 1.0, "돌파": 0.5, "반등": 0.5,
    "기술이전": 1.0, "매수세": 0.5, "출시": 0.3,
    # negative
    "적자": -1.5, "어닝 쇼크": -1.5, "쇼크": -1.0, "목표가 하향": -1.5, "하향": -0.5,
    "급락": -1.5, "하락": -0.5, "약세": -1.0, "신저가": -1.0, "부진": -1.0, "감소": -0.5,
    "악화": -1.0, "우려": -0.5, "불확실성": -0.5, "소송": -1.0, "분쟁": -0.5, "횡령": -2.0,
    "배임": -2.0, "유상증자": -1.5, "희석": -1.0, "상장폐지": -3.0, "거래정지": -2.0,
    "리콜": -1.0, "손실": -1.0, "제재": -1.0, "과징금": -1.0, "파업": -1.0, "지연": -1.0,
    "압수수색": -1.5, "둔화": -0.5, "철회": -1.0, "리스크": -0.5, "불안": -0.5,
}
_ORDERED = sorted(LEXICON.items(), key=lambda kv: len(kv[0]), reverse=True)


@dataclass(frozen=True)
class LexiconScore:
    score: float
    positive: tuple[str, ...]
    negative: tuple[str, ...]

    @property
    def reason(self) -> str:
        """One line naming the keywords that decided the score."""
        if not self.positive and not self.negative:
            return "no sentiment keyword (lexicon)"
        parts = [f"+{w}" for w in self.positive[:3]] + [f"-{w}" for w in self.negative[:3]]
        return "lexicon: " + " ".join(parts)


def score_sentences(sentences: list[str]) -> LexiconScore:
    """Score the sentences that mention one company."""
    pos = neg = 0.0
    pos_words: list[str] = []
    neg_words: list[str] = []
    for sentence in sentences:
        claimed = [False] * len(sentence)
        for word, weight in _ORDERED:
            start = sentence.find(word)
            while start != -1:
                end = start + len(word)
                if not any(claimed[start:end]):
                    for i in range(start, end):
                        claimed[i] = True
                    if weight > 0:
                        pos += weight
                        pos_words.append(word)
                    else:
                        neg -= weight
                        neg_words.append(word)
                start = sentence.find(word, end)
    score = (pos - neg) / (pos + neg + 1.0)
    return LexiconScore(round(score, 4), tuple(dict.fromkeys(pos_words)),
                        tuple(dict.fromkeys(neg_words)))
