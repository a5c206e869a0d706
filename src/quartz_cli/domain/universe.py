"""The tradable universe: KRX listings with market, market-cap tier and aliases.

A bundled master (`quartz_cli/data/universe.csv`, real codes and names, approximate price
levels that seed the simulator's synthetic market) serves `local` and is the default
everywhere; `quartz_cli.kis.master` refreshes it from KIS's stock master files."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import lru_cache
from importlib import resources
from pathlib import Path

from quartz_cli.domain.krx import normalize_ticker
from quartz_cli.errors import InputError

# The indexes KIS's master files flag per listing: KOSPI 200 (a KOSPI 200 sector code), KOSPI
# 100 and 50 (Y/N) in the KOSPI file, KOSDAQ 150 (Y/N) in the KOSDAQ file.
INDEXES = ("KOSPI200", "KOSPI100", "KOSPI50", "KOSDAQ150")
# What decide analyses besides the account's holdings (QUARTZ_UNIVERSE).
CANDIDATES = "candidates"
ALL_LISTINGS = "all"


class Tier(str, Enum):
    """Market-cap tier as KIS's master file codes it (1 large, 2 mid, 3 small)."""

    LARGE = "LARGE"
    MID = "MID"
    SMALL = "SMALL"


@dataclass(frozen=True)
class Listing:
    code: str
    name: str
    market: str
    tier: Tier
    sector: str
    base_price: int
    aliases: tuple[str, ...]
    # Indexes the listing belongs to, as KIS's master files flag them (see INDEXES).
    indexes: tuple[str, ...] = ()
    # The first session it traded (the master's listing date) and the first day it no
    # longer was listed (known for listings a refresh found gone); None: not known.
    listed: date | None = None
    delisted: date | None = None

    def listed_on(self, day: date) -> bool:
        """Listed on `day` as far as its dates say (unknown dates do not exclude it)."""
        return ((self.listed is None or self.listed <= day)
                and (self.delisted is None or day < self.delisted))


class Universe:
    """Listings by code, with name/alias lookup."""

    def __init__(self, listings: list[Listing]) -> None:
        self.listings = tuple(listings)
        self._by_code = {x.code: x for x in listings}

    def __len__(self) -> int:
        return len(self.listings)

    def __contains__(self, code: str) -> bool:
        return code in self._by_code

    def codes(self) -> list[str]:
        return [x.code for x in self.listings]

    def members(self, index: str) -> list[str]:
        """The codes of the listings flagged as members of `index` (one of INDEXES)."""
        return [x.code for x in self.listings if index in x.indexes]

    def get(self, code: str) -> Listing | None:
        return self._by_code.get(code)

    def require(self, code: str) -> Listing:
        """The listing for a code, or InputError for a malformed or unknown code."""
        norm = normalize_ticker(code)
        listing = self._by_code.get(norm)
        if listing is None:
            raise InputError(f"{norm} is not in the universe ({len(self)} listings)")
        return listing


def _day(text: str | None) -> date | None:
    text = (text or "").strip()
    return date.fromisoformat(text) if text else None


def load_universe_csv(path: Path | str) -> Universe:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    listings = []
    for i, row in enumerate(rows, start=2):
        try:
            listings.append(Listing(
                code=normalize_ticker(row["code"]),
                name=row["name"].strip(),
                market=row["market"].strip(),
                tier=Tier(row["tier"].strip()),
                sector=row.get("sector", "").strip(),
                base_price=int(row["base_price"]),
                aliases=tuple(a.strip() for a in row.get("aliases", "").split("|") if a.strip()),
                indexes=tuple(i.strip() for i in (row.get("indexes") or "").split("|")
                              if i.strip()),
                listed=_day(row.get("listed")), delisted=_day(row.get("delisted")),
            ))
        except (KeyError, ValueError) as exc:
            raise InputError(f"{path}:{i}: bad universe row ({exc})") from None
    return Universe(listings)


@lru_cache(maxsize=1)
def bundled_universe() -> Universe:
    """The master shipped with the package."""
    with resources.as_file(resources.files("quartz_cli.data") / "universe.csv") as path:
        return load_universe_csv(path)


def universe_choice(choice: str) -> str:
    """A universe setting in canonical form: `candidates` (the selection's candidates),
    `all` (every listing) or an index of INDEXES (`kospi200`, `KOSPI 200` are the same).
    InputError for anything else."""
    word = choice.strip().replace(" ", "").replace("_", "")
    if word.lower() in (CANDIDATES, ALL_LISTINGS):
        return word.lower()
    if word.upper() in INDEXES:
        return word.upper()
    raise InputError(f"unknown universe {choice!r}: choose {CANDIDATES}, {ALL_LISTINGS} or an "
                     f"index ({', '.join(INDEXES)})")


def chosen_codes(choice: str, universe: Universe) -> list[str] | None:
    """The codes a universe setting names in `universe`: None for `candidates` (they come
    from the selection's document), every code for `all`, an index's members otherwise."""
    word = universe_choice(choice)
    if word == CANDIDATES:
        return None
    if word == ALL_LISTINGS:
        return universe.codes()
    return universe.members(word)
