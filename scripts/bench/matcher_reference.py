"""The selection matcher as it was before the Aho–Corasick automaton: one full-text search
per surface form, longest first. Kept only as the reference that the automaton's output must
equal (tests/selection/test_matcher_automaton.py) and its speed is compared with
(scripts/bench/selection_matching.py)."""

from __future__ import annotations

import random

from quartz_cli.domain.matching import Match, TickerMatcher, split_sentences
from quartz_cli.domain.universe import Listing, Tier, bundled_universe


class ReferenceMatcher(TickerMatcher):
    """Same forms and rules as `TickerMatcher`; `find` searches form by form."""

    def find(self, text: str) -> list[Match]:
        claimed = [False] * len(text)
        hits = self._search(text, text, self._forms, claimed)
        folded = text.casefold()
        if len(folded) == len(text):
            hits += self._search(text, folded, list(self._folded.items()), claimed)
        sentences = split_sentences(text)
        out = []
        for start, end, code in sorted(hits):
            sent = next((text[a:b] for a, b in sentences if a <= start < b), text)
            out.append(Match(code=code, surface=text[start:end], start=start,
                             sentence=sent.strip()))
        return out

    def _search(self, text: str, haystack: str, forms: list[tuple[str, str]],
                claimed: list[bool]) -> list[tuple[int, int, str]]:
        hits: list[tuple[int, int, str]] = []
        for surface, code in forms:
            start = haystack.find(surface)
            while start != -1:
                end = start + len(surface)
                if (not any(claimed[start:end]) and self._left_ok(text, start)
                        and self._right_ok(text, end)):
                    for i in range(start, end):
                        claimed[i] = True
                    hits.append((start, end, code))
                start = haystack.find(surface, start + 1)
        return hits


SYLLABLES = "가나다라마바사아자차카타파하한대동성진원신영우수미제일광화금"
SUFFIXES = ("전자", "바이오", "홀딩스", "제약", "건설", "화학", "테크", "에너지", "", "", "")
LATIN = ("AI", "IT", "ENG", "BIO", "TECH", "NET", "SYS")


def listings_at_scale(n: int, seed: int = 7) -> list[Listing]:
    """The bundled listings plus deterministic synthetic ones up to `n` (the whole KRX is
    about 2,800): Hangul names with usual suffixes, some Latin ones, some containing another
    listing's name, so that the longest-first and boundary rules are exercised at scale."""
    rng = random.Random(seed)
    out = list(bundled_universe().listings)
    names = {x.name for x in out}
    code = 900000
    while len(out) < n:
        kind = rng.random()
        if kind < 0.1:
            name = rng.choice(LATIN) + rng.choice(LATIN) + str(rng.randint(1, 99))
        elif kind < 0.2:
            name = rng.choice(out).name + rng.choice(SUFFIXES[:8])
        else:
            name = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
            name += rng.choice(SUFFIXES)
        if name in names or len(name) < 2:
            continue
        names.add(name)
        code += 1
        out.append(Listing(code=str(code), name=name, market="KOSDAQ", tier=Tier.SMALL,
                           sector="", base_price=10_000, aliases=()))
    return out


def texts_at_scale(listings: list[Listing], count: int, seed: int = 11) -> list[str]:
    """News-like texts naming listings with particles, inside longer words and in other
    letter cases (deterministic)."""
    rng = random.Random(seed)
    tails = ("가 올랐다.", "는 하락했다. ", "의 실적이 개선됐다.\n", "서비스 노조가 파업했다. ",
             " 주가가 급등했다. ", "그룹이 투자를 늘렸다. ", "株 ", "에서 공시했다. ")
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(5, 15)):
            name = rng.choice(listings).name
            if name.isascii() and rng.random() < 0.3:
                name = name.lower()
            parts.append(name + rng.choice(tails))
        out.append("".join(parts))
    return out
