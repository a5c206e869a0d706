"""Rendering a decision plan (`quartz decide`, `quartz rebalance`) as readable tables, and
the exit codes that tell a script what a run did."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quartz_cli.errors import QuartzError

# `--detailed-exit-codes` (otherwise every completed run exits 0, so cron stays quiet).
# When several apply, the first in this list wins.
EXIT_ORDERS_FAILED = 15     # the broker refused or failed at least one order
EXIT_MARKET_CLOSED = 12     # outside the KRX order window: nothing sent
EXIT_BUDGET = 14            # the LLM budget was exhausted: the rule engine decided
EXIT_FELL_BACK = 13         # the LLM failed or answered badly: the rule engine decided
EXIT_ORDERS = 10            # orders planned (dry run) or sent
EXIT_NOTHING = 11           # no order passed the gate

EXIT_CODES_HELP = (
    "Exit with a code that says what the run did: 10 orders planned/sent, 11 nothing to do, "
    "12 market closed, "
    "13 the LLM failed or answered badly and rules decided, 14 LLM budget exhausted and rules "
    "decided, 15 the broker refused or failed an order (first match in the order 15, 12, 14, "
    "13, 10/11). Errors keep the usual codes (3 config, 5 broker, 6 store, ...). Without the "
    "flag a run exits 0 when every order it sent was accepted (or it had none to send), and "
    "otherwise 8 when some orders went, else the first failed order's code (5 broker or "
    "trading agent, 4 a ticker Quartz does not trade, 9 refused by the owner)."
)

# An order that went: anything else in `executions` failed or was not sent.
_SENT = {"accepted", "filled", "sent"}


def detailed_exit_code(plan: dict[str, Any]) -> int:
    """The detailed exit code of a plan document (see EXIT_CODES_HELP)."""
    outcome = plan["outcome"]
    fallback = (plan.get("engine") or {}).get("fallback")
    if outcome == "orders_failed":
        return EXIT_ORDERS_FAILED
    if outcome == "market_closed":
        return EXIT_MARKET_CLOSED
    if fallback == "budget_exhausted":
        return EXIT_BUDGET
    if fallback in ("llm_failed", "llm_bad_answer"):
        return EXIT_FELL_BACK
    return EXIT_ORDERS if plan["orders"] else EXIT_NOTHING


def orders_error(plan: dict[str, Any]) -> QuartzError | None:
    """Why a run's orders did not all go, as the error whose exit code says it (None when
    every order went): PartialFailure (8) when some went, else the first failure's own
    kind. Without `--detailed-exit-codes` this is the run's exit code."""
    from quartz_cli.errors import BrokerError, InputError, PartialFailure, SafetyRefusal

    failed = [e for e in plan.get("executions") or [] if e["status"] not in _SENT]
    if not failed:
        return None
    total = len(plan["executions"])
    first = failed[0]
    detail = f"{first['side']} {first['ticker']}: {first['message'] or first['status']}"
    if len(failed) < total:
        return PartialFailure(f"{len(failed)} of {total} orders failed or were not sent "
                              f"(first: {detail})")
    text = f"no order went ({total} failed or not sent; first: {detail})"
    status = first["status"]
    if status == "refused by the owner: listing":
        return InputError(text)
    if status.startswith("refused"):
        return SafetyRefusal(text)
    return BrokerError(text)


def _won(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x * 100:.{digits}f}%"


_OUTCOME_TEXT = {
    "orders_planned": "orders planned (dry run: nothing sent)",
    "orders_sent": "orders sent to the trading agent",
    "nothing_to_do": "nothing to do: no order passed the risk gate",
    "market_closed": "market closed: nothing sent",
    "orders_failed": "some orders did not go (refused, failed or not sent)",
}


def render_plan(plan: dict[str, Any], con: Any) -> None:
    """The whole plan: inputs in brief, decisions, gate, orders, weights, executions."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from quartz_cli.cli.format import kst

    def table(title: str, *cols: tuple[str, bool]) -> Table:
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for name, right in cols:
            t.add_column(name, justify="right" if right else "left",
                         overflow="fold" if name in ("rationale", "detail") else "ellipsis")
        return t

    from datetime import datetime

    s = plan["session"]
    mode = "dry run" if plan["dry_run"] else "live run"
    con.print(f"[bold]quartz {plan['kind']}[/] · {mode} · env {plan['env']} · run {plan['run_id']}")
    state = "[green]open[/]" if s["accepts_orders"] else f"[yellow]{s['refusal']}[/]"
    con.print(f"market clock {kst(datetime.fromisoformat(str(s['at'])))} · phase {s['phase']} · "
              f"orders {state} — {escape(s['detail'])}", soft_wrap=True)
    eng = plan.get("engine")
    if eng:
        label = "[yellow]deterministic rules[/]" if eng["is_rules"] else "[cyan]LLM[/]"
        con.print(f"engine {escape(eng['name'])} ({label}) — {escape(eng['detail'])}",
                  soft_wrap=True)
        for u in eng["usage"]:
            con.print(f"  LLM call: {u['model']} · {u['prompt_tokens']}+{u['output_tokens']} "
                      f"tokens · ≈ ${u['cost_usd']:.4f}")
    inputs = plan.get("inputs")
    if inputs:
        m = inputs["macro"]
        if m is None:
            con.print("\n[bold]Inputs[/]")
        else:
            age = f", {m['age_hours']:.1f} h old" if m["age_hours"] is not None else ""
            stale = " [yellow](stale or missing → uncertain)[/]" if m["stale"] else ""
            con.print(f"\n[bold]Inputs[/] · macro bias [bold]{m['bias']}[/]{age}{stale}")
            if m["positive_summary"]:
                con.print(f"  + {escape(m['positive_summary'])}", soft_wrap=True)
            if m["negative_summary"]:
                con.print(f"  − {escape(m['negative_summary'])}", soft_wrap=True)
        if inputs["produced"]:
            con.print(f"  produced first (the store had none): {', '.join(inputs['produced'])}")
        for note in inputs.get("data_notes", []):
            con.print(f"  [yellow]data: {escape(note)}[/]", soft_wrap=True)
        if inputs["candidates"]:
            t = table("candidates", ("ticker", False), ("name", False), ("score", True),
                      ("sentiment", True))
            for c in inputs["candidates"]:
                t.add_row(c["ticker"], escape(c["name"]),
                          "-" if c["score"] is None else f"{c['score']:.3f}",
                          "-" if c["sentiment"] is None else f"{c['sentiment']:+.2f}")
            con.print(t)
        t = table(f"holdings · cash {_won(inputs['cash_krw'])} · total "
                  f"{_won(inputs['total_value_krw'])} won", ("ticker", False), ("name", False),
                  ("qty", True), ("avg", True), ("price", True), ("P&L", True), ("weight", True))
        for h in inputs["holdings"]:
            pnl = "-" if h["pnl_pct"] is None else f"{h['pnl_pct']:+.2f}%"
            t.add_row(h["ticker"], escape(h["name"]), str(h["qty"]), _won(h["avg_price"]),
                      _won(h["price"]), pnl, _pct(h["weight"]))
        if not inputs["holdings"]:
            t.add_row("-", "no positions", "", "", "", "", "")
        con.print(t)
        for sk in inputs["skipped"]:
            con.print(f"  [yellow]skipped[/] {sk['ticker']}: {escape(sk['reason'])}",
                      soft_wrap=True)
    if plan["decisions"]:
        t = table("decisions", ("ticker", False), ("name", False), ("action", False),
                  ("target", True), ("conf.", True), ("rationale", False))
        # Names give way to the rationale on a narrow terminal.
        t.columns[1].max_width = 10
        t.columns[1].no_wrap = True
        colour = {"BUY": "green", "SELL": "red", "HOLD": "dim"}
        for d in plan["decisions"]:
            t.add_row(d["ticker"], escape(d["name"]),
                      f"[{colour[d['action']]}]{d['action']}[/]", _pct(d["target_weight"]),
                      f"{d['confidence']:.2f}", escape(d["rationale"]))
        con.print(t)
    if plan["gate"]:
        t = table("risk gate", ("ticker", False), ("action", False), ("", False),
                  ("rule", False), ("detail", False))
        for n in plan["gate"]:
            t.add_row(n["ticker"], n["action"], n["kind"], n["rule"], escape(n["detail"]))
        con.print(t)
    for title, orders in (("orders", plan["orders"]),
                          ("held back by the order window", plan["held_back"])):
        if not orders:
            continue
        t = table(title, ("side", False), ("ticker", False), ("name", False), ("qty", True),
                  ("limit", True), ("value", True), ("fees", True))
        for o in orders:
            side = "[green]BUY[/]" if o["side"] == "BUY" else "[red]SELL[/]"
            t.add_row(side, o["ticker"], escape(o["name"]), str(o["qty"]), _won(o["limit_price"]),
                      _won(o["notional_krw"]), _won(o["est_fees_krw"]))
        con.print(t)
    if plan["weights_before"]:
        t = table("weights (after fills)", ("", False), ("before", True), ("after", True))
        keys = sorted(set(plan["weights_before"]) | set(plan["weights_after"]),
                      key=lambda k: (k == "cash", k))
        for k in keys:
            t.add_row(k, _pct(plan["weights_before"].get(k)), _pct(plan["weights_after"].get(k)))
        con.print(t)
        con.print(f"cash {_won(plan['cash_before_krw'])} → {_won(plan['cash_after_krw'])} won "
                  "(fees included)")
    if plan["executions"]:
        t = table("sent", ("request", False), ("ticker", False), ("side", False), ("qty", True),
                  ("status", False), ("order no.", False), ("detail", False))
        for e in plan["executions"]:
            rid = e["request_id"].removeprefix(f"{plan['run_id']}-")
            t.add_row(rid, e["ticker"], e["side"], str(e["qty"]), e["status"],
                      e["order_no"] or "-", escape(e["message"]))
        con.print(t)
    for note in plan["notes"]:
        con.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)
    if plan.get("next_check_minutes"):
        con.print(f"next check in [bold]{plan['next_check_minutes']} minutes[/]")
    con.print(f"[bold]{_OUTCOME_TEXT[plan['outcome']]}[/]")


def render_summary(plan: dict[str, Any], con: Any) -> None:
    """A few lines for stderr when stdout carries the JSON document."""
    eng = plan.get("engine") or {}
    con.print(f"quartz {plan['kind']} ({'dry run' if plan['dry_run'] else 'live'}): "
              f"{_OUTCOME_TEXT[plan['outcome']]}; {len(plan['orders'])} order(s), "
              f"{len(plan['gate'])} gate note(s); engine {eng.get('name', '-')}", soft_wrap=True)
