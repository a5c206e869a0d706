"""KIS stock master files (`kospi_code.mst`, `kosdaq_code.mst`): parse them and refresh the
universe from them.

Each line is CP949 text: a variable head (short code in chars 0–8, ISIN in 9–20, the Korean
name after that) and a fixed ASCII tail of 227 data characters for KOSPI and 221 for KOSDAQ
(228 / 222 with the newline, as KIS's own parser slices it). Offsets below are positions in
that tail, from KIS's header files (`종목마스터정보(코스피).h` / `(코스닥).h`)."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from quartz_cli.domain.universe import INDEXES, Listing, Tier, Universe
from quartz_cli.errors import InputError

TAIL_CHARS = {"KOSPI": 227, "KOSDAQ": 221}

# (offset, width) within the tail, per market.
_FIELDS = {
    "KOSPI": {"group": (0, 2), "cap_size": (2, 1), "KOSPI200": (18, 1), "KOSPI100": (19, 1),
              "KOSPI50": (20, 1), "base_price": (41, 9), "halted": (60, 1),
              "administrative": (62, 1), "listed": (105, 8), "preferred": (158, 1),
              "market_cap_eok": (212, 9)},
    "KOSDAQ": {"group": (0, 2), "cap_size": (2, 1), "KOSDAQ150": (35, 1), "base_price": (36, 9),
               "halted": (55, 1), "administrative": (57, 1), "listed": (100, 8),
               "preferred": (153, 1), "market_cap_eok": (206, 9)},
}


def _member(index: str, flag: str) -> bool:
    # KOSPI 200 is flagged by its sector code (0 or blank: not a member); the others Y/N.
    if index == "KOSPI200":
        return flag.strip() not in ("", "0")
    return flag == "Y"

_CAP_TIER = {"1": Tier.LARGE, "2": Tier.MID, "3": Tier.SMALL}


@dataclass(frozen=True)
class MasterRecord:
    """One symbol of a master file (the fields the universe needs)."""

    code: str
    isin: str
    name: str
    market: str
    group: str
    cap_size: str
    base_price: int
    halted: bool
    administrative: bool
    preferred: bool
    market_cap_eok: int
    indexes: tuple[str, ...] = ()
    listed: date | None = None

    @property
    def is_common_stock(self) -> bool:
        """A common share (group ST, not a preferred share)."""
        return self.group == "ST" and not self.preferred


def _date(text: str) -> date | None:
    # 상장일자, YYYYMMDD; blank or malformed: unknown (the date only narrows a backtest).
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _int(text: str) -> int:
    text = text.strip()
    return int(text) if text else 0


def parse_line(line: str, market: str) -> MasterRecord:
    """Parse one decoded master line (with or without its line ending)."""
    if market not in TAIL_CHARS:
        raise InputError(f"unknown master market {market!r} (KOSPI or KOSDAQ)")
    row = line.rstrip("\r\n")
    n = TAIL_CHARS[market]
    if len(row) < n + 21:
        raise InputError(f"{market} master line too short ({len(row)} chars, need > {n + 21})")
    head, tail = row[:-n], row[-n:]
    f = _FIELDS[market]

    def field(name: str) -> str:
        off, width = f[name]
        return tail[off:off + width]

    code = head[0:9].strip()
    name = head[21:].strip()
    if not code or not name:
        raise InputError(f"{market} master line without a code or name: {row[:30]!r}")
    try:
        return MasterRecord(
            code=code, isin=head[9:21].strip(), name=name, market=market,
            group=field("group").strip(), cap_size=field("cap_size").strip(),
            base_price=_int(field("base_price")), halted=field("halted") == "Y",
            administrative=field("administrative") == "Y",
            preferred=field("preferred").strip() not in ("", "0"),
            market_cap_eok=_int(field("market_cap_eok")),
            indexes=tuple(i for i in INDEXES if i in f and _member(i, field(i))),
            listed=_date(field("listed")),
        )
    except ValueError as exc:
        raise InputError(f"{market} master line for {code}: bad number ({exc})") from None


def read_master(path: Path | str, market: str) -> list[MasterRecord]:
    """Read a master file: the `.mst` itself or KIS's `.mst.zip` download."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    return parse_master(raw, market, str(path))


def parse_master(raw: bytes, market: str, source: str) -> list[MasterRecord]:
    """The records of a master file's bytes (the `.mst` or its `.mst.zip`), named `source`
    in errors."""
    path = source
    if zipfile.is_zipfile(io.BytesIO(raw)):
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            members = [m for m in zf.namelist() if m.endswith(".mst")]
            if len(members) != 1:
                raise InputError(f"{path}: expected one .mst inside, found {len(members)}")
            raw = zf.read(members[0])
    try:
        text = raw.decode("cp949")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not CP949 text (byte {exc.start})") from None
    records = []
    for i, line in enumerate(text.splitlines(keepends=True), start=1):
        if not line.strip():
            continue
        try:
            records.append(parse_line(line, market))
        except InputError as exc:
            raise InputError(f"{path}:{i}: {exc.message}") from None
    return records


def universe_from_master(records: list[MasterRecord], previous: Universe) -> Universe:
    """Common stocks that are neither halted nor under administrative designation.

    Tier comes from the master's market-cap size code (1/2/3; 0 → SMALL). Sector and aliases
    are kept from `previous` for codes it knows (the master file carries neither); the base
    price is the master's reference price."""
    out = []
    for r in records:
        if not r.is_common_stock or r.halted or r.administrative:
            continue
        old = previous.get(r.code)
        out.append(Listing(
            code=r.code, name=r.name, market=r.market,
            tier=_CAP_TIER.get(r.cap_size, Tier.SMALL),
            sector=old.sector if old else "",
            base_price=r.base_price or (old.base_price if old else 0),
            aliases=old.aliases if old else (),
            indexes=r.indexes, listed=r.listed,
        ))
    if not out:
        raise InputError("the master files hold no tradable common stock")
    return Universe(out)


def delistings(previous: Universe, current: Universe, known: Universe, day: date
               ) -> Universe:
    """The listings known to be gone: those of `known` (the earlier delistings), and those
    of `previous` (the universe before a refresh) that `current` no longer lists, delisted
    on `day` (the refresh's date: KIS's master files say nothing of a delisting)."""
    out = {x.code: x for x in known.listings if x.code not in current}
    for x in previous.listings:
        if x.code not in current and x.code not in out:
            out[x.code] = replace(x, delisted=day)
    return Universe(sorted(out.values(), key=lambda x: x.code))


def write_universe_csv(universe: Universe, path: Path) -> None:
    """Write a universe in the bundled CSV's format (atomically)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["code", "name", "market", "tier", "sector", "base_price", "aliases", "indexes",
                "listed", "delisted"])
    for x in universe.listings:
        w.writerow([x.code, x.name, x.market, x.tier.value, x.sector, x.base_price,
                    "|".join(x.aliases), "|".join(x.indexes),
                    x.listed.isoformat() if x.listed else "",
                    x.delisted.isoformat() if x.delisted else ""])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)
