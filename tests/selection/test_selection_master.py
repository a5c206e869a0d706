"""KIS stock master files: fixture lines built from the documented fixed-width layout."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from quartz_cli.domain.universe import Tier, bundled_universe, load_universe_csv
from quartz_cli.errors import InputError
from quartz_cli.kis.master import (
    parse_line,
    read_master,
    universe_from_master,
    write_universe_csv,
)


def _tail(length: int, fields: dict[int, str]) -> str:
    chars = [" "] * length
    for off, value in fields.items():
        chars[off:off + len(value)] = list(value)
    assert len(chars) == length
    return "".join(chars)


def kospi_line(code: str, name: str, *, group="ST", cap="1", price=71000, halted="N",
               admin="N", pref="0", mcap=4200000) -> str:
    tail = _tail(227, {0: group, 2: cap, 41: f"{price:09d}", 60: halted, 62: admin,
                       158: pref, 212: f"{mcap:09d}"})
    return f"{code:<9}KR7{code}003{name}{tail}\n"


def kosdaq_line(code: str, name: str, *, cap="2", price=95000, mcap=120000) -> str:
    tail = _tail(221, {0: "ST", 2: cap, 36: f"{price:09d}", 55: "N", 57: "N", 153: "0",
                       206: f"{mcap:09d}"})
    return f"{code:<9}KR7{code}008{name}{tail}\n"


def test_kospi_line_fields() -> None:
    r = parse_line(kospi_line("005930", "삼성전자", price=71500, mcap=4268000), "KOSPI")
    assert (r.code, r.isin, r.name, r.market) == ("005930", "KR7005930003", "삼성전자", "KOSPI")
    assert r.group == "ST" and r.cap_size == "1" and r.base_price == 71500
    assert r.market_cap_eok == 4268000 and not r.halted and r.is_common_stock


def test_kosdaq_tail_is_shorter_and_offsets_differ() -> None:
    line = kosdaq_line("196170", "알테오젠", price=312000)
    r = parse_line(line, "KOSDAQ")
    assert (r.code, r.name, r.base_price, r.cap_size) == ("196170", "알테오젠", 312000, "2")
    # KOSPI's tail is 6 characters longer: read as KOSPI, the name loses its last characters.
    longer = kosdaq_line("196170", "알테오젠바이오로직스")
    assert parse_line(longer, "KOSPI").name != "알테오젠바이오로직스"


def test_short_line_is_an_input_error() -> None:
    with pytest.raises(InputError, match="too short"):
        parse_line("005930   KR7005930003삼성전자\n", "KOSPI")


def _write_zip(path: Path, member: str, text: str) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, text.encode("cp949"))


def test_read_zip_and_build_universe(tmp_path: Path) -> None:
    text = "".join([
        kospi_line("005930", "삼성전자", cap="1"),
        kospi_line("005935", "삼성전자우", pref="1"),          # preferred: excluded
        kospi_line("069500", "KODEX 200", group="EF"),         # ETF: excluded
        kospi_line("900001", "거래정지기업", halted="Y"),         # halted: excluded
        kospi_line("900002", "새상장기업", cap="3", price=5120),  # new code, no aliases
    ])
    _write_zip(tmp_path / "kospi_code.mst.zip", "kospi_code.mst", text)
    (tmp_path / "kosdaq_code.mst").write_bytes(kosdaq_line("196170", "알테오젠").encode("cp949"))
    records = read_master(tmp_path / "kospi_code.mst.zip", "KOSPI")
    records += read_master(tmp_path / "kosdaq_code.mst", "KOSDAQ")
    assert len(records) == 6
    uni = universe_from_master(records, bundled_universe())
    assert uni.codes() == ["005930", "900002", "196170"]
    samsung = uni.require("005930")
    assert samsung.tier is Tier.LARGE and "삼전" in samsung.aliases and samsung.sector == "반도체"
    new = uni.require("900002")
    assert new.tier is Tier.SMALL and new.aliases == () and new.base_price == 5120
    assert uni.require("196170").tier is Tier.MID
    out = tmp_path / "universe.csv"
    write_universe_csv(uni, out)
    again = load_universe_csv(out)
    assert again.listings == uni.listings


def test_not_cp949_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "kospi_code.mst"
    path.write_bytes(b"\xff\xff\xff\n")
    with pytest.raises(InputError, match="CP949"):
        read_master(path, "KOSPI")
