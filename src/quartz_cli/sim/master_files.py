"""The simulator's stock master files: KOSPI and KOSDAQ listings as KIS's download host serves
them (`kospi_code.mst.zip`, `kosdaq_code.mst.zip`: one CP949 `.mst` inside, one fixed-width
line per symbol, layout in docs/external-apis.md and KIS's `종목마스터정보(코스피).h` /
`(코스닥).h`).

The listings are the bundled ones (real codes and names) plus deterministic synthetic ones
up to `SimConfig.listings` tradable common stocks (the whole KRX is about 2,800), drawn from a
seed: Korean names with the usual suffixes, plausible six-digit codes, market caps that set the
size tier (KRX's rule: ranks 1–100 large, 101–300 mid on KOSPI) and index membership (the top
200 / 100 / 50 KOSPI listings by market cap are KOSPI 200 / 100 / 50, the top 150 KOSDAQ ones
KOSDAQ 150). A few records a universe must leave out are added: ETFs, preferred shares,
halted and administrative issues. Prices are SYNTHETIC, as everywhere in the simulator.

The simulator's market serves a synthetic market for every listing here (`Simulator.market`).
"""

from __future__ import annotations

import io
import random
import zipfile
from dataclasses import dataclass
from functools import lru_cache

from quartz_cli.domain.krx import round_to_tick
from quartz_cli.domain.universe import Listing, Tier, Universe, bundled_universe
from quartz_cli.sim.info_routes import isin

FILES = {"KOSPI": "kospi_code.mst.zip", "KOSDAQ": "kosdaq_code.mst.zip"}
TAIL = {"KOSPI": 227, "KOSDAQ": 221}
# (offset, width) of the fields the simulator fills, within each market's tail.
_AT = {
    "KOSPI": {"group": (0, 2), "cap": (2, 1), "kospi200": (18, 1), "kospi100": (19, 1),
              "kospi50": (20, 1), "base": (41, 9), "unit": (50, 5), "halted": (60, 1),
              "admin": (62, 1), "listed": (105, 8), "preferred": (158, 1),
              "mcap": (212, 9)},
    "KOSDAQ": {"group": (0, 2), "cap": (2, 1), "kosdaq150": (35, 1), "base": (36, 9),
               "unit": (45, 5), "halted": (55, 1), "admin": (57, 1), "listed": (100, 8),
               "preferred": (153, 1), "mcap": (206, 9)},
}
# The Y/N flags of each tail (N unless set below) and its one-character codes (0: none):
# KOSPI 200 sector, ETP kind, short-term overheating.
_CODES = {"KOSPI": (18, 22, 32), "KOSDAQ": (18, 27)}
_FLAGS = {"KOSPI": tuple(i for i in range(15, 41) if i not in _CODES["KOSPI"]),
          "KOSDAQ": tuple(i for i in range(15, 36) if i not in _CODES["KOSDAQ"])}
KOSPI_SHARE = 0.34  # of the tradable listings (about 950 of 2,800)
_SYLLABLES = "가나다라마바사아자차카타파하한대동성진원신영우수미제일광화금삼서오태에코"
_SUFFIXES = ("전자", "바이오", "홀딩스", "제약", "건설", "화학", "테크", "에너지", "산업",
             "반도체", "로직스", "소재", "", "", "")
_LATIN = ("AI", "IT", "ENG", "BIO", "TECH", "NET", "SYS", "LAB")
_K200_SECTORS = "123456789AB"
_TIER_CAP = {Tier.LARGE: "1", Tier.MID: "2", Tier.SMALL: "3"}


@dataclass(frozen=True)
class MasterEntry:
    """One symbol of a simulated master file."""

    code: str
    name: str
    market: str
    tier: Tier
    base_price: int
    market_cap_eok: int
    group: str = "ST"
    preferred: bool = False
    halted: bool = False
    administrative: bool = False
    indexes: tuple[str, ...] = ()

    @property
    def tradable(self) -> bool:
        return (self.group == "ST" and not self.preferred and not self.halted
                and not self.administrative)


def _name(rng: random.Random, taken: set[str], names: list[str]) -> str:
    while True:
        kind = rng.random()
        if kind < 0.08:
            name = rng.choice(_LATIN) + rng.choice(_LATIN) + str(rng.randint(1, 99))
        elif kind < 0.15 and names:
            # Some names contain another listing's: the matcher's longest-first rule at scale.
            name = rng.choice(names) + rng.choice(_SUFFIXES[:12])
        else:
            suffix = rng.choice(_SUFFIXES)
            # Without a suffix, three syllables at least: fewer read as everyday words.
            name = "".join(rng.choice(_SYLLABLES)
                           for _ in range(rng.randint(2 if suffix else 3, 4))) + suffix
        if len(name) >= 2 and name not in taken:
            taken.add(name)
            names.append(name)
            return name


def _code(rng: random.Random, taken: set[str]) -> str:
    # Common shares end in 0 (a preferred share of the same issuer ends in 5).
    while True:
        code = f"{rng.randint(1000, 49999):05d}0"
        if code not in taken:
            taken.add(code)
            return code


def _ranked(entries: list[MasterEntry], market: str, tiers: tuple[int, int],
            indexes: tuple[tuple[str, int], ...]) -> list[MasterEntry]:
    """The market's tradable entries by market cap, with the size tier from the rank and the
    index flags of the top ranks."""
    ranked = sorted((e for e in entries if e.market == market and e.tradable),
                    key=lambda e: (-e.market_cap_eok, e.code))
    out = []
    for rank, e in enumerate(ranked, start=1):
        tier = Tier.LARGE if rank <= tiers[0] else Tier.MID if rank <= tiers[1] else Tier.SMALL
        flags = tuple(name for name, top in indexes if rank <= top)
        out.append(MasterEntry(e.code, e.name, e.market, tier, e.base_price, e.market_cap_eok,
                               indexes=flags))
    return out


@lru_cache(maxsize=4)
def master_entries(listings: int, seed: int) -> tuple[MasterEntry, ...]:
    """Every symbol of both master files: `listings` tradable common stocks (at least the
    bundled ones) and a few others, deterministic in `seed`."""
    rng = random.Random(seed)
    bundled = bundled_universe().listings
    codes = {x.code for x in bundled}
    taken = {x.name for x in bundled}
    names = [x.name for x in bundled]
    entries = []
    # The bundled listings keep their tier's place: large caps in the trillions of won.
    span = {Tier.LARGE: (200_000, 4_000_000), Tier.MID: (10_000, 60_000),
            Tier.SMALL: (500, 5_000)}
    for x in bundled:
        lo, hi = span[x.tier]
        entries.append(MasterEntry(x.code, x.name, x.market, x.tier, x.base_price,
                                   int(rng.uniform(lo, hi))))
    kospi_target = int(listings * KOSPI_SHARE)
    kospi = sum(1 for x in bundled if x.market == "KOSPI")
    for _ in range(max(0, listings - len(bundled))):
        market = "KOSPI" if kospi < kospi_target else "KOSDAQ"
        kospi += market == "KOSPI"
        cap = max(50, int(rng.lognormvariate(7.6 if market == "KOSPI" else 6.9, 1.4)))
        price = round_to_tick(max(500, int(rng.lognormvariate(9.6, 1.1))))
        entries.append(MasterEntry(_code(rng, codes), _name(rng, taken, names), market,
                                   Tier.SMALL, price, cap))
    ranked = (_ranked(entries, "KOSPI", (100, 300),
                      (("KOSPI200", 200), ("KOSPI100", 100), ("KOSPI50", 50)))
              + _ranked(entries, "KOSDAQ", (100, 400), (("KOSDAQ150", 150),)))
    # The bundled listings keep their own tier (the selection scores by it).
    own = {x.code: x.tier for x in bundled}
    ranked = [MasterEntry(e.code, e.name, e.market, own.get(e.code, e.tier), e.base_price,
                          e.market_cap_eok, indexes=e.indexes) for e in ranked]
    others = []
    for e in ranked[:40:4]:
        # A preferred share of some issuers (code ending in 5, name ending in 우).
        others.append(MasterEntry(e.code[:5] + "5", e.name + "우", e.market, Tier.SMALL,
                                  e.base_price * 8 // 10, e.market_cap_eok // 10,
                                  preferred=True))
    for i, name in enumerate(("KODEX 200", "TIGER 200", "KODEX 레버리지")):
        others.append(MasterEntry(f"0{69500 + i * 100}", name, "KOSPI", Tier.SMALL, 35_000,
                                  50_000, group="EF"))
    for _ in range(3):
        others.append(MasterEntry(_code(rng, codes), _name(rng, taken, names), "KOSDAQ",
                                  Tier.SMALL, 1_000, 100, halted=True))
        others.append(MasterEntry(_code(rng, codes), _name(rng, taken, names), "KOSDAQ",
                                  Tier.SMALL, 1_000, 100, administrative=True))
    return tuple(ranked + others)


def master_universe(listings: int, seed: int) -> Universe:
    """The tradable listings of the master files (what `quartz select universe` keeps),
    with the bundled sectors and aliases."""
    bundled = bundled_universe()
    out = []
    for e in master_entries(listings, seed):
        if not e.tradable:
            continue
        old = bundled.get(e.code)
        out.append(Listing(e.code, e.name, e.market, e.tier, old.sector if old else "",
                           e.base_price, old.aliases if old else (), e.indexes))
    return Universe(out)


@lru_cache(maxsize=4)
def delisted_listings(seed: int, count: int = 6) -> tuple[Listing, ...]:
    """Synthetic listings that were delisted: in none of the master files (KIS's list what
    is listed now), each with its listing date and the first day it was no longer listed,
    so a backtest over the synthetic market meets tickers that did not survive. Codes
    9xxxx0, apart from the master's synthetic ones (01000x–49999x)."""
    from datetime import date, timedelta

    rng = random.Random(f"{seed}|delisted")
    taken = {x.name for x in bundled_universe().listings}
    out = []
    for i in range(count):
        listed = date(2018, 3, 2) + timedelta(days=rng.randint(0, 900))
        gone = date(2023, 1, 2) + timedelta(days=rng.randint(0, 1200))
        out.append(Listing(code=f"9{1000 + i * 37:04d}0", name=_name(rng, taken, []),
                           market="KOSDAQ" if i % 3 else "KOSPI", tier=Tier.SMALL, sector="",
                           base_price=round_to_tick(rng.randint(1_500, 30_000)), aliases=(),
                           listed=listed, delisted=gone))
    return tuple(out)


def _line(e: MasterEntry, seed: int) -> str:
    """One master line: code (9), ISIN (12), name, then the market's fixed tail."""
    tail = [" "] * TAIL[e.market]
    at = _AT[e.market]

    def put(name: str, value: str) -> None:
        off, width = at[name]
        assert len(value) == width, (name, value)
        tail[off:off + width] = value

    for off in _FLAGS[e.market]:
        tail[off] = "N"
    for off in _CODES[e.market]:
        tail[off] = "0"
    put("group", e.group)
    put("cap", _TIER_CAP[e.tier] if e.group == "ST" else "0")
    if e.market == "KOSPI":
        sector = _K200_SECTORS[random.Random(f"{seed}|{e.code}").randrange(11)]
        put("kospi200", sector if "KOSPI200" in e.indexes else "0")
        put("kospi100", "Y" if "KOSPI100" in e.indexes else "N")
        put("kospi50", "Y" if "KOSPI50" in e.indexes else "N")
    else:
        put("kosdaq150", "Y" if "KOSDAQ150" in e.indexes else "N")
    put("base", f"{e.base_price:09d}")
    put("unit", "00001")
    put("halted", "Y" if e.halted else "N")
    put("admin", "Y" if e.administrative else "N")
    put("listed", "20100104")
    put("preferred", "1" if e.preferred else "0")
    put("mcap", f"{e.market_cap_eok:09d}")
    return f"{e.code:<9}{isin(e.code)}{e.name}{''.join(tail)}\n"


@lru_cache(maxsize=4)
def master_zip(market: str, listings: int, seed: int) -> bytes:
    """The `<market>_code.mst.zip` download: one CP949 `.mst` inside."""
    text = "".join(_line(e, seed) for e in master_entries(listings, seed) if e.market == market)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(FILES[market].removesuffix(".zip"), text.encode("cp949"))
    return buf.getvalue()
