"""Ticker matching: company names and aliases in Korean news text → listed codes.

Rules, chosen to avoid false hits:

* Longest surface form first, and a matched span is claimed: "LG화학" is found before "LG",
  and "KT&G" before "KT", so the shorter name inside the longer one never matches.
* Left boundary: the form must not continue a word (no Hangul, Latin letter or digit right
  before it).
* Right boundary: the next character must not be a letter or digit, unless it begins a
  Korean particle (은/는/이/가/의/에서/…, at most two in a row) that is itself followed by a
  non-Hangul character. So "삼성전자가" matches, "삼성전자서비스", "HLB생명과학",
  "현대차그룹" and "한전KPS" do not.
* Group names alone (삼성, SK, LG, 현대, 한화, 롯데, …) name a business group, not a listed
  company, and a few listed names are everyday words (대상 "target", 동양 "the East", …):
  neither is ever matched bare. Companies whose listed name is the group name
  (LG, SK) match only in their corporate forms: "(주)LG", "㈜LG", "LG㈜", "SK(주)" … or
  their own aliases ("LG지주", "SK주식회사").

Each match keeps the sentence it came from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from quartz_cli.domain.universe import Universe

GROUP_NAMES = frozenset({
    "삼성", "SK", "LG", "현대", "한화", "롯데", "GS", "CJ", "HD현대", "포스코", "POSCO", "두산",
    "신세계", "효성", "한진", "금호", "DL", "KT그룹", "LS", "HD", "카카오그룹", "네이버그룹",
})

# Listed names that are also common Korean words (relevant once the universe is refreshed
# from the full KIS master files).
COMMON_WORDS = frozenset({"대상", "동양", "전방", "태양", "국보", "대원", "대성", "신원", "한국",
                          "서울", "진도", "배럴", "에이스", "모아", "이월드", "우진", "코리아"})

# Particles and suffixes that may follow a company name inside the same word.
PARTICLES = tuple(sorted({
    "은", "는", "이", "가", "을", "를", "의", "와", "과", "도", "에", "로", "으로", "에서",
    "에게", "까지", "부터", "보다", "만", "처럼", "이나", "나", "이며", "며", "이고", "고",
    "측", "등", "뿐", "조차", "마저", "에도", "에는", "로는", "와의", "과의", "이다", "다",
    "株", "주", "발", "향",
}, key=len, reverse=True))

_SENTENCE = re.compile(r"(?<=[.!?。])\s+|\n+")


def _is_hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3" or "\u3131" <= ch <= "\u318e"


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of `text`."""
    spans, start = [], 0
    for m in _SENTENCE.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


@dataclass(frozen=True)
class Match:
    """A company found in a text: its code, the surface form seen and its sentence."""

    code: str
    surface: str
    start: int
    sentence: str


@dataclass
class TickerMatcher:
    """Finds listed companies in text. Build once per universe."""

    universe: Universe
    _forms: list[tuple[str, str]] = field(init=False, repr=False)
    _automaton: Any = field(init=False, repr=False)
    _folded_automaton: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        forms: dict[str, str] = {}
        for x in self.universe.listings:
            for form in (x.name, *x.aliases):
                form = form.strip()
                if not form:
                    continue
                if form in GROUP_NAMES or form in COMMON_WORDS:
                    for corp in (f"(주){form}", f"㈜{form}", f"{form}㈜", f"{form}(주)"):
                        forms.setdefault(corp, x.code)
                    continue
                forms.setdefault(form, x.code)
        self._forms = sorted(forms.items(), key=lambda kv: len(kv[0]), reverse=True)
        # Latin names in other letter cases ("Samsung electronics", "naver").
        self._folded = {f.casefold(): c for f, c in self._forms if f.isascii() and len(f) >= 4}
        self._lengths: list[int] = []
        self._automaton = self._build(self._forms)
        self._folded_automaton = self._build(list(self._folded.items()))

    def _build(self, forms: list[tuple[str, str]]) -> Any:
        """An Aho–Corasick automaton of `forms` (ranked in their order), or None if empty:
        one pass over a text finds all of them, whatever their number."""
        import ahocorasick

        if not forms:
            return None
        automaton = ahocorasick.Automaton()
        for form, code in forms:
            automaton.add_word(form, (len(self._lengths), len(form), code))
            self._lengths.append(len(form))
        automaton.make_automaton()
        return automaton

    def _right_ok(self, text: str, end: int) -> bool:
        if end >= len(text):
            return True
        nxt = text[end]
        if not _is_word(nxt):
            return True
        if not _is_hangul(nxt) and nxt != "株":
            return False
        pos = end
        for _ in range(2):
            for p in PARTICLES:
                if text.startswith(p, pos):
                    pos += len(p)
                    if pos >= len(text) or not _is_hangul(text[pos]):
                        return True
                    break
            else:
                return False
        return False

    def _left_ok(self, text: str, start: int) -> bool:
        return start == 0 or not _is_word(text[start - 1])

    def find(self, text: str) -> list[Match]:
        """Every company mention in `text`, in order, with its sentence."""
        claimed = [False] * len(text)
        hits = self._claim(text, text, self._automaton, claimed)
        folded = text.casefold()
        if len(folded) == len(text):
            hits += self._claim(text, folded, self._folded_automaton, claimed)
        sentences = split_sentences(text)
        out = []
        for start, end, code in sorted(hits):
            sent = next((text[a:b] for a, b in sentences if a <= start < b), text)
            out.append(Match(code=code, surface=text[start:end], start=start,
                             sentence=sent.strip()))
        return out

    def _claim(self, text: str, haystack: str, automaton: Any, claimed: list[bool],
               ) -> list[tuple[int, int, str]]:
        """One pass of the automaton over `haystack` finds every occurrence of every form;
        they are then taken longest form first (the forms' rank), left to right within a
        form, each only if its span is unclaimed and its boundaries hold, as the rules say."""
        if automaton is None:
            return []
        found = sorted((rank, end + 1 - length, code)
                       for end, (rank, length, code) in automaton.iter(haystack))
        hits: list[tuple[int, int, str]] = []
        for rank, start, code in found:
            end = start + self._lengths[rank]
            if (not any(claimed[start:end]) and self._left_ok(text, start)
                    and self._right_ok(text, end)):
                for i in range(start, end):
                    claimed[i] = True
                hits.append((start, end, code))
        return hits

    def codes_in(self, *texts: str) -> dict[str, list[str]]:
        """code → the distinct sentences mentioning it, over several texts (title, body)."""
        out: dict[str, list[str]] = {}
        for text in texts:
            for m in self.find(text):
                sents = out.setdefault(m.code, [])
                if m.sentence not in sents:
                    sents.append(m.sentence)
        return out
