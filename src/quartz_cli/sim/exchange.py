"""The simulator's exchange and accounts: cash orders matched against the sample market,
cancels and revisions, balances, the day's orders, and an audit of everything booked.

Rules as simulated (SYNTHETIC prices; see sim/market.py):
- Orders are accepted 09:00–15:30 KST on KRX sessions; otherwise each domain's
  out-of-hours answer.
- `ORD_DVSN` 01 (market) fills at once at the current price moved by `slippage_bps` against
  the orderer; 00 (limit) fills at once at the current price if marketable, else rests and
  fills at its limit when the price crosses it. Whole fills only. The other divisions KIS
  defines map onto these (sim/order_divisions.py); paper takes 00–04 only.
- A buy reserves cash (market orders at the upper limit price, as KIS does); a sell needs
  the shares not already committed to open sells. Limit prices must be on the tick grid and
  inside the day's ±30 % limits.
- Fills move holdings at once and cash at settlement, two sessions later (T+2), as at KRX:
  the deposit (`dnca_tot_amt`) changes only when a trade settles, the D+1 and D+2 figures
  (`nxdy_excc_amt`, `prvs_rcdl_excc_amt`) show what it will be. Each fill pays the
  commission, and a sell the transaction tax, of `domain.costs` (taken at settlement).
- Orderable cash (`ord_psbl_cash`) is the deposit less unsettled buys and open buy orders;
  unsettled sale proceeds are reusable (`ruse_psbl_amt`) and count toward what a buy may
  spend (`nrcvb_buy_amt`), as KIS lets a sale's proceeds buy on the same day.

Every account starts with `SimConfig.starting_cash`; the local paper account (LOCAL_CANO)
also holds a few positions at varied average prices, so that stop-loss and take-profit rules
have something to act on.
"""

from __future__ import annotations

import json
import sqlite3
import weakref
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from quartz_cli.config import LOCAL_CANO
from quartz_cli.domain import costs
from quartz_cli.domain.krx import (
    KST,
    REGULAR_OPEN,
    Phase,
    is_on_tick,
    kst_date,
    round_to_tick,
)
from quartz_cli.sim import fields
from quartz_cli.sim.order_divisions import BAD_DIVISION, DIVISIONS, NOT_ON_PAPER, division_name

if TYPE_CHECKING:
    from quartz_cli.sim.market import SampleMarket, SimQuote
    from quartz_cli.sim.simulator import Simulator

SCHEMA = """
CREATE TABLE IF NOT EXISTS sim_accounts (cano TEXT PRIMARY KEY, cash INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sim_positions (
    cano TEXT NOT NULL, pdno TEXT NOT NULL, qty INTEGER NOT NULL,
    purchase_amount INTEGER NOT NULL, PRIMARY KEY (cano, pdno));
CREATE TABLE IF NOT EXISTS sim_orders (
    odno TEXT PRIMARY KEY, cano TEXT NOT NULL, orgno TEXT NOT NULL,
    ord_dt TEXT NOT NULL, ord_tmd TEXT NOT NULL, pdno TEXT NOT NULL,
    side TEXT NOT NULL, ord_dvsn TEXT NOT NULL, qty INTEGER NOT NULL, price INTEGER NOT NULL,
    filled_qty INTEGER NOT NULL DEFAULT 0, filled_amount INTEGER NOT NULL DEFAULT 0,
    cancelled_qty INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,
    orgn_odno TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL DEFAULT 'order',
    created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sim_orders_by_day ON sim_orders (cano, ord_dt);
CREATE INDEX IF NOT EXISTS sim_orders_open ON sim_orders (status);
CREATE TABLE IF NOT EXISTS sim_trades (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, cano TEXT NOT NULL, odno TEXT NOT NULL,
    pdno TEXT NOT NULL, side TEXT NOT NULL, qty INTEGER NOT NULL, amount INTEGER NOT NULL,
    fee INTEGER NOT NULL, tax INTEGER NOT NULL, trade_dt TEXT NOT NULL,
    settle_dt TEXT NOT NULL, settled INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS sim_trades_by_account ON sim_trades (cano, settled, settle_dt);
CREATE TABLE IF NOT EXISTS sim_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, cano TEXT NOT NULL,
    event TEXT NOT NULL, odno TEXT NOT NULL, detail TEXT NOT NULL);
"""

# (code, quantity, average price as a fraction of the listing's reference price)
SEED_POSITIONS = (
    ("005930", 120, 0.82),   # well in profit: take-profit territory
    ("000660", 30, 1.12),    # losing: stop-loss territory
    ("035420", 40, 0.97),    # near flat
    ("051910", 15, 1.35),    # deep loss
)

SELL, BUY = "01", "02"
MARKET, LIMIT = "01", "00"
ORG_NO_PAPER, ORG_NO_REAL = "00950", "06010"


class Rejected(Exception):
    """A business rejection: answered with `rt_cd` 1 (or KIS's 7 where it sends that), on
    HTTP 200 unless KIS's gateway answers it (`status` 500)."""

    def __init__(self, msg_cd: str, msg1: str, status: int = 200, rt_cd: str = "1") -> None:
        super().__init__(msg1)
        self.msg_cd = msg_cd
        self.msg1 = msg1
        self.status = status
        self.rt_cd = rt_cd


@dataclass(frozen=True)
class Booked:
    odno: str
    orgno: str
    ord_tmd: str


@dataclass(frozen=True)
class Cash:
    """An account's cash as KIS reports it. `deposit` is settled cash; the unsettled sums are
    what trades not yet settled will take (buys: amount + commission) and bring (sells:
    amount − commission − tax); `reserved` is held by open buy orders."""

    deposit: int
    d1: int
    d2: int
    unsettled_buys: int
    unsettled_sells: int
    reserved: int

    @property
    def orderable(self) -> int:
        """`ord_psbl_cash`: the deposit less unsettled buys and open buy orders."""
        return max(0, self.deposit - self.unsettled_buys - self.reserved)

    @property
    def buying_power(self) -> int:
        """What a new buy may spend without margin: orderable cash plus reusable proceeds."""
        return max(0, self.d2 - self.reserved)


def _ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def _stamp(now: datetime) -> tuple[str, str]:
    k = now.astimezone(KST)
    return k.strftime("%Y%m%d"), k.strftime("%H%M%S")


class Exchange:
    """Order book and accounts of one simulator, persisted in its SimState."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.state = sim.state
        self.state.add_schema(SCHEMA)
        self._matched_minute = ""

    @property
    def market(self) -> SampleMarket:
        return self.sim.market

    @property
    def org_no(self) -> str:
        return ORG_NO_REAL if self.sim.config.real_tr_ids else ORG_NO_PAPER

    # --- accounts ---------------------------------------------------------------------------

    def _ensure_account(self, db: sqlite3.Connection, cano: str) -> None:
        if db.execute("SELECT 1 FROM sim_accounts WHERE cano = ?", (cano,)).fetchone():
            return
        db.execute("INSERT INTO sim_accounts(cano, cash) VALUES (?, ?)",
                   (cano, int(self.sim.config.starting_cash)))
        if cano != LOCAL_CANO:
            return
        for code, qty, factor in SEED_POSITIONS:
            listing = self.market.listing(code)
            if listing is None:
                continue
            avg = round_to_tick(listing.base_price * factor)
            db.execute("INSERT INTO sim_positions(cano, pdno, qty, purchase_amount) "
                       "VALUES (?, ?, ?, ?)", (cano, code, qty, avg * qty))

    def _next_odno(self, db: sqlite3.Connection) -> str:
        self.state.bump("odno", conn=db)
        value = db.execute("SELECT value FROM counters WHERE name = 'odno'").fetchone()["value"]
        return f"{int(value):010d}"

    def _audit(self, db: sqlite3.Connection, cano: str, event: str, odno: str,
               **detail: Any) -> None:
        db.execute("INSERT INTO sim_audit(at, cano, event, odno, detail) VALUES (?,?,?,?,?)",
                   (self.sim.clock(), cano, event, odno, json.dumps(detail, ensure_ascii=False)))

    def _settle_day(self, trade_day: date) -> date:
        """The session `SETTLEMENT_SESSIONS` after `trade_day` (weekdays past the calendar)."""
        day = trade_day
        for _ in range(costs.SETTLEMENT_SESSIONS):
            following = self.market.calendar.next(day)
            if following is None:
                following = day + timedelta(days=1)
                while following.weekday() >= 5:
                    following += timedelta(days=1)
            day = following
        return day

    def _settle(self, db: sqlite3.Connection, cano: str, today: date) -> None:
        """Move trades due by `today` into the deposit."""
        due = db.execute(
            "SELECT COALESCE(SUM(CASE side WHEN ? THEN -(amount + fee + tax) "
            "ELSE amount - fee - tax END), 0) AS net, COUNT(*) AS n FROM sim_trades "
            "WHERE cano = ? AND settled = 0 AND settle_dt <= ?", (BUY, cano, _ymd(today)),
        ).fetchone()
        if not due["n"]:
            return
        db.execute("UPDATE sim_accounts SET cash = cash + ? WHERE cano = ?",
                   (int(due["net"]), cano))
        db.execute("UPDATE sim_trades SET settled = 1 WHERE cano = ? AND settled = 0 "
                   "AND settle_dt <= ?", (cano, _ymd(today)))

    def _open(self, db: sqlite3.Connection, cano: str, now: datetime) -> None:
        """The account, created if new, with every trade due by today settled."""
        self._ensure_account(db, cano)
        self._settle(db, cano, kst_date(now))

    def _cash(self, db: sqlite3.Connection, cano: str, now: datetime) -> Cash:
        deposit = int(db.execute("SELECT cash FROM sim_accounts WHERE cano = ?",
                                 (cano,)).fetchone()["cash"])
        following = self.market.calendar.next(kst_date(now))
        d1_day = _ymd(following) if following else _ymd(kst_date(now))
        d1 = buys = sells = 0
        for t in db.execute("SELECT side, amount, fee, tax, settle_dt FROM sim_trades "
                            "WHERE cano = ? AND settled = 0", (cano,)):
            net = (-(t["amount"] + t["fee"] + t["tax"]) if t["side"] == BUY
                   else t["amount"] - t["fee"] - t["tax"])
            if t["side"] == BUY:
                buys -= net
            else:
                sells += net
            if t["settle_dt"] <= d1_day:
                d1 += net
        reserved = 0
        for o in db.execute("SELECT (qty - filled_qty - cancelled_qty) * price AS r "
                            "FROM sim_orders WHERE cano = ? AND side = ? AND status = 'open'",
                            (cano, BUY)):
            reserved += int(o["r"]) + costs.commission(int(o["r"]))
        return Cash(deposit=deposit, d1=deposit + d1, d2=deposit - buys + sells,
                    unsettled_buys=buys, unsettled_sells=sells, reserved=reserved)

    def _cash_free(self, db: sqlite3.Connection, cano: str, now: datetime) -> int:
        return self._cash(db, cano, now).buying_power

    def _shares_free(self, db: sqlite3.Connection, cano: str, pdno: str) -> int:
        row = db.execute("SELECT qty FROM sim_positions WHERE cano = ? AND pdno = ?",
                         (cano, pdno)).fetchone()
        held = int(row["qty"]) if row else 0
        committed = db.execute(
            "SELECT COALESCE(SUM(qty - filled_qty - cancelled_qty), 0) AS c FROM sim_orders "
            "WHERE cano = ? AND pdno = ? AND side = ? AND status = 'open'", (cano, pdno, SELL),
        ).fetchone()["c"]
        return held - int(committed)

    def _apply_fill(self, db: sqlite3.Connection, cano: str, odno: str, pdno: str, side: str,
                    qty: int, price: int, now: datetime) -> None:
        amount = qty * price
        trade_day = kst_date(now)
        settle_day = self._settle_day(trade_day)
        tax = costs.sell_tax(amount, settle_day) if side == SELL else 0
        db.execute("INSERT INTO sim_trades(cano, odno, pdno, side, qty, amount, fee, tax, "
                   "trade_dt, settle_dt) VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (cano, odno, pdno, side, qty, amount, costs.commission(amount), tax,
                    _ymd(trade_day), _ymd(settle_day)))
        if side == BUY:
            db.execute(
                "INSERT INTO sim_positions(cano, pdno, qty, purchase_amount) VALUES (?,?,?,?) "
                "ON CONFLICT(cano, pdno) DO UPDATE SET qty = qty + excluded.qty, "
                "purchase_amount = purchase_amount + excluded.purchase_amount",
                (cano, pdno, qty, amount))
        else:
            row = db.execute("SELECT qty, purchase_amount FROM sim_positions "
                             "WHERE cano = ? AND pdno = ?", (cano, pdno)).fetchone()
            held, cost = int(row["qty"]), int(row["purchase_amount"])
            # Selling keeps the average price of what remains.
            remaining_cost = cost - round(cost * qty / held) if held > qty else 0
            db.execute("UPDATE sim_positions SET qty = qty - ?, purchase_amount = ? "
                       "WHERE cano = ? AND pdno = ?", (qty, remaining_cost, cano, pdno))
        db.execute("UPDATE sim_orders SET filled_qty = filled_qty + ?, "
                   "filled_amount = filled_amount + ?, "
                   "status = CASE WHEN filled_qty + ? + cancelled_qty >= qty THEN 'filled' "
                   "ELSE status END WHERE odno = ?", (qty, amount, qty, odno))
        self._audit(db, cano, "filled", odno, qty=qty, price=price)

    # --- market -----------------------------------------------------------------------------

    def _quote(self, pdno: str, now: datetime) -> SimQuote:
        try:
            return self.market.quote(pdno, now)
        except KeyError:
            raise Rejected("APBK0656", "해당 종목정보가 없습니다.") from None

    def _out_of_hours(self, now: datetime) -> Rejected:
        """The refusal of an order outside the regular session, in each domain's words: the
        real domain's `APBK0918`; the paper domain's before-open, after-close and
        non-business-day codes (third-party logs of both hosts; docs/external-apis.md)."""
        if self.sim.config.real_tr_ids:
            return Rejected("APBK0918", "장운영시간이 아닙니다.(단,주간거래시간이면 전용화면 "
                            "주문가능, 주문시간 외 불가)")
        if not self.market.calendar.is_trading_day(kst_date(now)):
            return Rejected("40100000", "모의투자 영업일이 아닙니다.")
        if now.astimezone(KST).time() < REGULAR_OPEN:
            return Rejected("40570000", "모의투자 장시작전 입니다.")
        return Rejected("40580000", "모의투자 장종료 입니다.")

    def _no_cash(self) -> Rejected:
        """A buy beyond the orderable cash, in each domain's words (third-party logs: the
        real host answers `rt_cd` 7, not 1; docs/external-apis.md)."""
        if self.sim.config.real_tr_ids:
            return Rejected("APBK0952", "주문가능금액을 초과 했습니다", rt_cd="7")
        return Rejected("40250000", "모의투자 주문가능금액이 부족합니다.")

    def _check_session(self, now: datetime) -> None:
        if self.market.calendar.phase(now) not in (Phase.CONTINUOUS, Phase.CLOSING_AUCTION):
            raise self._out_of_hours(now)

    def _fill_price(self, quote: SimQuote, side: str) -> int:
        bps = self.sim.config.slippage_bps / 10_000
        raw = quote.price * (1 + bps if side == BUY else 1 - bps)
        return min(quote.limits.upper, max(quote.limits.lower, round_to_tick(raw)))

    def match_open(self, now: datetime, *, force: bool = False) -> int:
        """Fill resting limit orders whose price the market has crossed; returns the count.

        Quotes move once a minute and a new order is matched when it is placed, so a resting
        order can only start crossing at a new minute: without `force` this runs once per
        market minute (per process)."""
        minute = now.astimezone(KST).strftime("%Y%m%d%H%M")
        if not force and minute == self._matched_minute:
            return 0
        self._matched_minute = minute
        rows = self.state.query("SELECT odno, pdno, side, price FROM sim_orders "
                                "WHERE status = 'open' AND kind = 'order'")
        crossing = []
        quotes: dict[str, SimQuote] = {}
        for row in rows:
            quote = quotes.get(row["pdno"])
            if quote is None:
                quote = quotes[row["pdno"]] = self.market.quote(row["pdno"], now)
            if not quote.in_session:
                continue
            if (row["side"] == BUY and quote.price <= row["price"]) or \
                    (row["side"] == SELL and quote.price >= row["price"]):
                crossing.append(row["odno"])
        filled = 0
        for odno in crossing:
            with self.state.tx() as db:
                o = db.execute("SELECT * FROM sim_orders WHERE odno = ? AND status = 'open'",
                               (odno,)).fetchone()
                if o is None:
                    continue
                qty = int(o["qty"]) - int(o["filled_qty"]) - int(o["cancelled_qty"])
                self._apply_fill(db, o["cano"], odno, o["pdno"], o["side"], qty, int(o["price"]),
                                 now)
                filled += 1
        return filled

    # --- orders -----------------------------------------------------------------------------

    def place(self, cano: str, side: str, pdno: str, ord_dvsn: str, qty: int, price: int,
              now: datetime) -> Booked:
        """Book a cash order (and fill it if it can); raises Rejected for business errors.
        Every division KIS defines is taken as `sim/order_divisions.py` says."""
        division = DIVISIONS.get(ord_dvsn)
        if division is None:
            raise Rejected(*BAD_DIVISION, status=500)
        if not self.sim.config.real_tr_ids and not division.paper:
            raise Rejected(*NOT_ON_PAPER)
        if qty <= 0:
            raise Rejected("APBK0400", "주문수량을 확인하세요.")
        self._check_session(now)
        if division.fill == "window":
            raise self._out_of_hours(now)
        quote = self._quote(pdno, now)
        if division.priced:
            if not is_on_tick(price):
                raise Rejected("APBK0506", f"주문단가({price})가 호가단위에 맞지 않습니다.")
            if not quote.limits.contains(price):
                raise Rejected("APBK0507", f"주문단가({price})가 상하한가 범위"
                               f"({quote.limits.lower}~{quote.limits.upper})를 벗어났습니다.")
        elif price != 0:
            raise Rejected("APBK0508", f"{division.name} 주문은 주문단가 0으로 입력하세요.")
        at_market = division.fill == "market"
        # Divisions without a price of their own are priced by the exchange: the current
        # price in the simulator's one-price market.
        if not division.priced and not at_market:
            price = quote.price
        ord_dt, ord_tmd = _stamp(now)
        marketable = at_market or (side == BUY and quote.price <= price) or \
            (side == SELL and quote.price >= price)
        killed = division.fill in ("ioc", "fok") and not marketable
        fill_price = self._fill_price(quote, side) if at_market else quote.price
        with self.state.tx() as db:
            self._open(db, cano, now)
            if side == BUY:
                notional = qty * (quote.limits.upper if at_market else price)
                if self._cash_free(db, cano, now) < notional + costs.commission(notional):
                    raise self._no_cash()
            elif self._shares_free(db, cano, pdno) < qty:
                raise Rejected("APBK0986", "주문가능수량을 초과 했습니다.")
            odno = self._next_odno(db)
            db.execute(
                "INSERT INTO sim_orders(odno, cano, orgno, ord_dt, ord_tmd, pdno, side, "
                "ord_dvsn, qty, price, status, created_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,'open',?)",
                (odno, cano, self.org_no, ord_dt, ord_tmd, pdno, side, ord_dvsn, qty, price,
                 self.sim.clock()))
            self._audit(db, cano, "booked", odno, pdno=pdno, side=side, ord_dvsn=ord_dvsn,
                        qty=qty, price=price)
            self.state.bump("orders_booked", conn=db)
            if marketable:
                self._apply_fill(db, cano, odno, pdno, side, qty, fill_price, now)
            elif killed:
                # IOC/FOK with nothing executable: the exchange cancels it at once.
                db.execute("UPDATE sim_orders SET cancelled_qty = qty, status = 'cancelled' "
                           "WHERE odno = ?", (odno,))
                self._audit(db, cano, "killed", odno, qty=qty)
        return Booked(odno, self.org_no, ord_tmd)

    def revise_or_cancel(self, cano: str, orgn_odno: str, cancel: bool, all_qty: bool,
                         qty: int, price: int, ord_dvsn: str, now: datetime) -> Booked:
        """Cancel (or re-price) the unfilled part of an open order."""
        self._check_session(now)
        ord_dt, ord_tmd = _stamp(now)
        with self.state.tx() as db:
            o = db.execute("SELECT * FROM sim_orders WHERE odno = ? AND cano = ? "
                           "AND kind = 'order'", (orgn_odno, cano)).fetchone()
            if o is None:
                raise Rejected("APBK0344", "원주문번호가 존재하지 않습니다.")
            remaining = int(o["qty"]) - int(o["filled_qty"]) - int(o["cancelled_qty"])
            if o["status"] != "open" or remaining <= 0:
                raise Rejected("APBK0353", "정정/취소 가능수량이 없습니다 (체결 또는 취소 완료).")
            n = remaining if all_qty else qty
            if n <= 0 or n > remaining:
                raise Rejected("APBK0354", f"정정/취소 수량은 1~{remaining}주입니다.")
            if not cancel:
                quote = self._quote(o["pdno"], now)
                if ord_dvsn != LIMIT or not is_on_tick(price) or \
                        not quote.limits.contains(price):
                    raise Rejected("APBK0506", "정정 주문단가/주문구분을 확인하세요.")
                released = n * int(o["price"])
                if o["side"] == BUY and self._cash_free(db, cano, now) \
                        + released + costs.commission(released) \
                        < n * price + costs.commission(n * price):
                    raise self._no_cash()
            odno = self._next_odno(db)
            db.execute("UPDATE sim_orders SET cancelled_qty = cancelled_qty + ?, "
                       "status = CASE WHEN filled_qty + cancelled_qty + ? >= qty "
                       "THEN 'cancelled' ELSE status END WHERE odno = ?", (n, n, orgn_odno))
            if cancel:
                db.execute(
                    "INSERT INTO sim_orders(odno, cano, orgno, ord_dt, ord_tmd, pdno, side, "
                    "ord_dvsn, qty, price, cancelled_qty, status, orgn_odno, kind, created_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,0,?,'done',?,'cancel',?)",
                    (odno, cano, self.org_no, ord_dt, ord_tmd, o["pdno"], o["side"],
                     o["ord_dvsn"], n, n, orgn_odno, self.sim.clock()))
                self._audit(db, cano, "cancelled", odno, original=orgn_odno, qty=n)
            else:
                # A revision books a new order for the re-priced quantity.
                db.execute(
                    "INSERT INTO sim_orders(odno, cano, orgno, ord_dt, ord_tmd, pdno, side, "
                    "ord_dvsn, qty, price, status, orgn_odno, kind, created_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,'open',?,'order',?)",
                    (odno, cano, self.org_no, ord_dt, ord_tmd, o["pdno"], o["side"], LIMIT,
                     n, price, orgn_odno, self.sim.clock()))
                self._audit(db, cano, "revised", odno, original=orgn_odno, qty=n, price=price)
        if not cancel:
            self.match_open(now, force=True)
        return Booked(odno, self.org_no, ord_tmd)

    # --- inquiries --------------------------------------------------------------------------

    def _traded(self, cano: str, day: date | None) -> dict[tuple[str, str], dict[str, int]]:
        """Per (pdno, side) the quantity, amount and costs traded on `day` (KST)."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        if day is None:
            return out
        for t in self.state.query(
                "SELECT pdno, side, SUM(qty) AS qty, SUM(amount) AS amount, "
                "SUM(fee + tax) AS tlex FROM sim_trades WHERE cano = ? AND trade_dt = ? "
                "GROUP BY pdno, side", (cano, _ymd(day))):
            out[(t["pdno"], t["side"])] = {"qty": int(t["qty"]), "amount": int(t["amount"]),
                                          "tlex": int(t["tlex"])}
        return out

    def holdings(self, cano: str, now: datetime) -> tuple[list[dict[str, str]], dict[str, str]]:
        """`inquire-balance` rows (output1) and the summary (output2[0]). A position sold out
        stays listed with `hldg_qty` 0 until its sale settles, as at KIS."""
        with self.state.tx() as db:
            self._open(db, cano, now)
            cash = self._cash(db, cano, now)
        today = kst_date(now)
        thdt = self._traded(cano, today)
        bfdy = self._traded(cano, self.market.calendar.previous(today))
        unsettled = {r["pdno"] for r in self.state.query(
            "SELECT DISTINCT pdno FROM sim_trades WHERE cano = ? AND settled = 0", (cano,))}
        rows = []
        total_cost = total_value = 0
        for p in self.state.query("SELECT pdno, qty, purchase_amount FROM sim_positions "
                                  "WHERE cano = ? ORDER BY pdno", (cano,)):
            qty, cost = int(p["qty"]), int(p["purchase_amount"])
            if qty <= 0 and p["pdno"] not in unsettled:
                continue
            quote = self.market.quote(p["pdno"], now)
            listing = self.market.listing(p["pdno"])
            value = qty * quote.price
            pnl = value - cost
            total_cost += cost
            total_value += value
            with self.state.tx() as db:
                sellable = self._shares_free(db, cano, p["pdno"])

            def qty_of(days: dict[tuple[str, str], dict[str, int]], side: str,
                       pdno: str = p["pdno"]) -> str:
                return str(days.get((pdno, side), {}).get("qty", 0))

            rows.append(fields.complete(fields.BALANCE_ROW, {
                "pdno": p["pdno"], "prdt_name": listing.name if listing else p["pdno"],
                "trad_dvsn_name": "현금", "bfdy_buy_qty": qty_of(bfdy, BUY),
                "bfdy_sll_qty": qty_of(bfdy, SELL), "thdt_buyqty": qty_of(thdt, BUY),
                "thdt_sll_qty": qty_of(thdt, SELL), "hldg_qty": str(qty),
                "ord_psbl_qty": str(sellable),
                "pchs_avg_pric": f"{cost / qty if qty else 0:.4f}", "pchs_amt": str(cost),
                "prpr": str(quote.price), "evlu_amt": str(value), "evlu_pfls_amt": str(pnl),
                "evlu_pfls_rt": f"{(pnl / cost * 100) if cost else 0:.2f}",
                "evlu_erng_rt": "0", "fltt_rt": f"{(quote.price / quote.base - 1) * 100:.2f}",
                "bfdy_cprs_icdc": str(quote.price - quote.base),
                "sbst_pric": "0",
                "stck_loan_unpr": "0",
            }))

        def total(days: dict[tuple[str, str], dict[str, int]], side: str | None,
                  key: str) -> str:
            return str(sum(v[key] for (_, s), v in days.items() if side in (None, s)))

        summary = fields.complete(fields.BALANCE_SUMMARY, {
            "dnca_tot_amt": str(cash.deposit), "nxdy_excc_amt": str(cash.d1),
            "prvs_rcdl_excc_amt": str(cash.d2), "cma_evlu_amt": "0",
            "bfdy_buy_amt": total(bfdy, BUY, "amount"),
            "thdt_buy_amt": total(thdt, BUY, "amount"),
            "bfdy_sll_amt": total(bfdy, SELL, "amount"),
            "thdt_sll_amt": total(thdt, SELL, "amount"),
            "bfdy_tlex_amt": total(bfdy, None, "tlex"),
            "thdt_tlex_amt": total(thdt, None, "tlex"),
            "scts_evlu_amt": str(total_value), "tot_evlu_amt": str(total_value + cash.d2),
            "nass_amt": str(total_value + cash.d2), "fncg_gld_auto_rdpt_yn": "N",
            "pchs_amt_smtl_amt": str(total_cost), "evlu_amt_smtl_amt": str(total_value),
            "evlu_pfls_smtl_amt": str(total_value - total_cost),
        })
        return rows, summary

    def buyable(self, cano: str, pdno: str, price: int, ord_dvsn: str,
                now: datetime) -> dict[str, str]:
        """`inquire-psbl-order` output: `ord_psbl_cash` without, `nrcvb_*` with the reusable
        proceeds of unsettled sales (`ruse_psbl_amt`); no margin, so `max_*` = `nrcvb_*`."""
        with self.state.tx() as db:
            self._open(db, cano, now)
            cash = self._cash(db, cano, now)
        unit = price
        if pdno and (ord_dvsn == MARKET or price <= 0):
            unit = self._quote(pdno, now).limits.upper
        qty = 0
        if unit > 0:
            qty = cash.buying_power // unit
            while qty > 0 and qty * unit + costs.commission(qty * unit) > cash.buying_power:
                qty -= 1
        return fields.complete(fields.PSBL_ORDER, {
            "ord_psbl_cash": str(cash.orderable), "ord_psbl_sbst": "0",
            "ruse_psbl_amt": str(cash.unsettled_sells), "fund_rpch_chgs": "0",
            "psbl_qty_calc_unpr": str(unit), "nrcvb_buy_amt": str(qty * unit),
            "nrcvb_buy_qty": str(qty), "max_buy_amt": str(qty * unit),
            "max_buy_qty": str(qty), "cma_evlu_amt": "0", "ovrs_re_use_amt_wcrc": "0",
            "ord_psbl_frcr_amt_wcrc": "0"})

    def daily(self, cano: str, start: str, end: str, pdno: str = "", side: str = "00",
              ccld: str = "00", odno: str = "", newest_first: bool = True) -> list[dict[str, str]]:
        """`inquire-daily-ccld` rows (output1) for days start..end (YYYYMMDD)."""
        sql = "SELECT * FROM sim_orders WHERE cano = ? AND ord_dt BETWEEN ? AND ?"
        params: list[Any] = [cano, start, end]
        if pdno:
            sql += " AND pdno = ?"
            params.append(pdno)
        if side in (SELL, BUY):
            sql += " AND side = ?"
            params.append(side)
        if odno:
            sql += " AND odno = ?"
            params.append(odno)
        if ccld == "01":
            sql += " AND filled_qty > 0"
        elif ccld == "02":
            sql += " AND kind = 'order' AND status = 'open'"
        sql += " ORDER BY odno " + ("DESC" if newest_first else "ASC")
        out = []
        for o in self.state.query(sql, tuple(params)):
            qty, filled = int(o["qty"]), int(o["filled_qty"])
            cancel_row = o["kind"] == "cancel"
            # With `cancel_report = "cancel_row"` only the cancel's own row tells of it.
            confirmed = 0 if self.sim.config.cancel_report == "cancel_row" and not cancel_row \
                else int(o["cancelled_qty"])
            remaining = 0 if cancel_row else qty - filled - confirmed
            listing = self.market.listing(o["pdno"])
            out.append(fields.complete(fields.DAILY_CCLD_ROW, {
                "ord_dt": o["ord_dt"], "ord_gno_brno": o["orgno"], "odno": o["odno"],
                "orgn_odno": o["orgn_odno"], "ord_dvsn_name": division_name(o["ord_dvsn"]),
                "sll_buy_dvsn_cd": o["side"],
                "sll_buy_dvsn_cd_name": "매수" if o["side"] == BUY else "매도",
                "pdno": o["pdno"], "prdt_name": listing.name if listing else o["pdno"],
                "ord_qty": str(qty), "ord_unpr": str(o["price"]), "ord_tmd": o["ord_tmd"],
                "tot_ccld_qty": str(filled), "avg_prvs": str(int(o["filled_amount"]) // filled
                                                             if filled else 0),
                "cncl_yn": "Y" if cancel_row else "N", "tot_ccld_amt": str(o["filled_amount"]),
                "ord_dvsn_cd": o["ord_dvsn"], "cnc_cfrm_qty": str(confirmed),
                "cncl_cfrm_qty": str(confirmed), "rmn_qty": str(remaining),
                "rjct_qty": "0", "ccld_cndt_name": "없음", "prdt_type_cd": "300",
                "excg_dvsn_cd": "02", "excg_id_dvsn_Cd": "KRX",
            }))
        return out

    def costs_between(self, cano: str, start: str, end: str) -> int:
        """Commission and tax of the trades of days start..end (YYYYMMDD)."""
        row = self.state.query("SELECT COALESCE(SUM(fee + tax), 0) AS c FROM sim_trades "
                               "WHERE cano = ? AND trade_dt BETWEEN ? AND ?", (cano, start, end))
        return int(row[0]["c"])

    def audit(self) -> list[dict[str, Any]]:
        """Every booking event, oldest first (for tests and `quartz sim status`)."""
        return [dict(r) for r in self.state.query("SELECT * FROM sim_audit ORDER BY seq")]


_EXCHANGES: weakref.WeakKeyDictionary[Any, Exchange] = weakref.WeakKeyDictionary()


def exchange_for(sim: Simulator) -> Exchange:
    """The one Exchange of `sim`."""
    found = _EXCHANGES.get(sim)
    if found is None:
        found = _EXCHANGES[sim] = Exchange(sim)
    return found
