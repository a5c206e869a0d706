"""KIS's order divisions (`ORD_DVSN`) and exchange codes (`EXCG_ID_DVSN_CD`) as the simulator
takes them, per domain, with KIS's answers where it refuses one.

Sources: KIS's order-cash spec and samples for the divisions; python-kis enables only 00–04
on paper; third-party logs of the paper host for `90000000` ("not provided on paper") and of
an order without a valid division for `IGW00019` (docs/external-apis.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Division:
    """How the simulator books one ORD_DVSN. `priced`: the order carries its own limit
    price; otherwise ORD_UNPR must be 0 and the exchange sets the price. `fill`: "rest"
    (fills at once when marketable, else rests), "market" (fills at once), "ioc"/"fok"
    (fills at once when marketable, else is cancelled; fills are whole, so both behave
    alike), "window" (only in an out-of-hours window, which the simulator never opens)."""

    code: str
    name: str
    priced: bool
    fill: str
    paper: bool = False


DIVISIONS = {d.code: d for d in (
    Division("00", "지정가", True, "rest", paper=True),
    Division("01", "시장가", False, "market", paper=True),
    Division("02", "조건부지정가", True, "rest", paper=True),
    Division("03", "최유리지정가", False, "market", paper=True),
    # Best price on the orderer's own side: the current price in a one-price market.
    Division("04", "최우선지정가", False, "rest", paper=True),
    Division("05", "장전 시간외", False, "window"),
    Division("06", "장후 시간외", False, "window"),
    Division("07", "시간외 단일가", True, "window"),
    Division("11", "IOC지정가", True, "ioc"),
    Division("12", "FOK지정가", True, "fok"),
    Division("13", "IOC시장가", False, "market"),
    Division("14", "FOK시장가", False, "market"),
    Division("15", "IOC최유리", False, "market"),
    Division("16", "FOK최유리", False, "market"),
    # Mid-point orders: the current price in a one-price market.
    Division("21", "중간가", False, "rest"),
    Division("22", "스톱지정가", True, "rest"),
    Division("23", "중간가IOC", False, "ioc"),
    Division("24", "중간가FOK", False, "fok"),
)}

# The exchanges an order or inquiry may name, per domain (blank means KRX).
REAL_EXCHANGES = frozenset({"", "KRX", "NXT", "SOR"})
PAPER_EXCHANGES = frozenset({"", "KRX"})
REAL_INQUIRY_EXCHANGES = REAL_EXCHANGES | {"ALL"}

NOT_ON_PAPER = ("90000000", "모의투자에서는 해당업무가 제공되지 않습니다.")
BAD_DIVISION = ("IGW00019", "주문구분을 확인해주세요")
BAD_EXCHANGE = ("OPSQ2002", "거래소ID구분코드(EXCG_ID_DVSN_CD)를 확인하세요.")


def division_name(code: str) -> str:
    """The Korean name of a division, as the order inquiries print it."""
    found = DIVISIONS.get(code)
    return found.name if found else ""
