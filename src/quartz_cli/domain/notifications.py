"""What a notification says: which events a channel wants, and each event's message in
Korean or English.

A fill is announced only from `order.filled` / `order.partially_filled`, the events the
order ledger writes when the broker reports the fill (its order inquiry or its real-time
fill notice): never from a request, a send or an acceptance, so a rejected order can never
read as "bought"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quartz_cli.domain.events import Event

Template = Callable[[dict[str, Any]], str]

_SIDE = {"ko": {"buy": "매수", "sell": "매도", "cancel": "취소"},
         "en": {"buy": "buy", "sell": "sell", "cancel": "cancel"}}


def _side(d: dict[str, Any], lang: str) -> str:
    side = str(d.get("side", "")).lower()
    return _SIDE[lang].get(side, side)


def _won(n: object) -> str:
    return f"{int(str(n)):,}" if str(n).lstrip("-").isdigit() else str(n)


TEMPLATES: dict[str, dict[str, Template]] = {
    "order.filled": {
        "ko": lambda d: f"✅ 체결 완료: {d.get('ticker')} {_side(d, 'ko')} "
                        f"{d.get('filled_qty')}주 @ {_won(d.get('avg_fill_price'))}원",
        "en": lambda d: f"✅ Filled: {_side(d, 'en')} {d.get('filled_qty')} {d.get('ticker')} "
                        f"@ {_won(d.get('avg_fill_price'))} KRW",
    },
    "order.partially_filled": {
        "ko": lambda d: f"◐ 부분 체결: {d.get('ticker')} {_side(d, 'ko')} "
                        f"{d.get('filled_qty')}/{d.get('qty')}주 @ "
                        f"{_won(d.get('avg_fill_price'))}원",
        "en": lambda d: f"◐ Partly filled: {_side(d, 'en')} {d.get('filled_qty')}/"
                        f"{d.get('qty')} {d.get('ticker')} @ {_won(d.get('avg_fill_price'))} KRW",
    },
    "order.rejected": {
        "ko": lambda d: f"❌ 주문 거부(증권사): {d.get('ticker')} {_side(d, 'ko')} "
                        f"{d.get('qty')}주 — {d.get('code', '')} {d.get('message', '')}".rstrip(),
        "en": lambda d: f"❌ Rejected by the broker: {_side(d, 'en')} {d.get('qty')} "
                        f"{d.get('ticker')} — {d.get('code', '')} {d.get('message', '')}".rstrip(),
    },
    "order.refused": {
        "ko": lambda d: f"⛔ 리스크 규칙으로 주문 차단: {d.get('ticker')} {_side(d, 'ko')} "
                        f"{d.get('qty')}주 — {d.get('code', '')}",
        "en": lambda d: f"⛔ Refused by the risk stage: {_side(d, 'en')} {d.get('qty')} "
                        f"{d.get('ticker')} — {d.get('code', '')}",
    },
    "order.unknown": {
        "ko": lambda d: f"⚠️ 주문 결과 미확인: {d.get('ticker')} {_side(d, 'ko')} "
                        f"{d.get('qty')}주 — 재전송하지 않고 조회로 확인 중",
        "en": lambda d: f"⚠️ Order outcome unknown: {_side(d, 'en')} {d.get('qty')} "
                        f"{d.get('ticker')} — being reconciled, never re-sent",
    },
    "order.expired": {
        "ko": lambda d: f"ℹ️ 미확인 주문 종료(미접수 확인): {d.get('ticker')} {d.get('qty')}주",
        "en": lambda d: f"ℹ️ Unknown order closed as never booked: {d.get('qty')} "
                        f"{d.get('ticker')}",
    },
    "order.cancelled": {
        "ko": lambda d: f"주문 취소: {d.get('ticker')} {_side(d, 'ko')} {d.get('qty')}주",
        "en": lambda d: f"Cancelled: {_side(d, 'en')} {d.get('qty')} {d.get('ticker')}",
    },
    "exit.stop_loss": {
        "ko": lambda d: f"🔻 손절 조건 도달: {d.get('ticker')} ({d.get('pnl_pct')}%)",
        "en": lambda d: f"🔻 Stop-loss triggered: {d.get('ticker')} ({d.get('pnl_pct')}%)",
    },
    "exit.take_profit": {
        "ko": lambda d: f"🔺 익절 조건 도달: {d.get('ticker')} (+{d.get('pnl_pct')}%)",
        "en": lambda d: f"🔺 Take-profit triggered: {d.get('ticker')} (+{d.get('pnl_pct')}%)",
    },
    "trading.state_changed": {
        "ko": lambda d: f"🚦 거래 상태 변경: {d.get('from')} → {d.get('to')} "
                        f"({d.get('reason') or '사유 없음'})",
        "en": lambda d: f"🚦 Trading state: {d.get('from')} → {d.get('to')} "
                        f"({d.get('reason') or 'no reason given'})",
    },
    "job.finished": {
        "ko": lambda d: f"작업 {d.get('job')} 종료: 종료 코드 {d.get('exit_code')}",
        "en": lambda d: f"Job {d.get('job')} finished: exit code {d.get('exit_code')}",
    },
    "job.started": {
        "ko": lambda d: f"작업 {d.get('job')} 시작",
        "en": lambda d: f"Job {d.get('job')} started",
    },
    "decision.made": {
        "ko": lambda d: f"판단({d.get('kind')}, {d.get('engine')}): 주문 "
                        f"{d.get('orders_planned')}건 계획, {d.get('orders_sent')}건 전송",
        "en": lambda d: f"Decision ({d.get('kind')}, {d.get('engine')}): "
                        f"{d.get('orders_planned')} orders planned, {d.get('orders_sent')} sent",
    },
    "token.issued": {
        "ko": lambda d: "KIS 토큰 발급",
        "en": lambda d: "KIS token issued",
    },
    "token.failed": {
        "ko": lambda d: f"🔑 KIS 토큰 발급 실패: {d.get('error')}",
        "en": lambda d: f"🔑 KIS token issue failed: {d.get('error')}",
    },
    "data.stale": {
        "ko": lambda d: f"⏳ 오래된 데이터: {d.get('document')} ({d.get('age_s')}초 경과)",
        "en": lambda d: f"⏳ Stale data: {d.get('document')} ({d.get('age_s')} s old)",
    },
}

SKIPPED = {
    "ko": "알림 {count}건 건너뜀(적체 한도 초과): 이벤트 {first}–{last}, `quartz events --since "
          "{before}`로 확인",
    "en": "Skipped {count} notifications over the backlog limit: events {first}–{last}; see "
          "`quartz events --since {before}`",
}


def parse_selection(text: str) -> frozenset[str]:
    """A channel's comma-separated event types (`exit.*` takes a prefix)."""
    return frozenset(x.strip() for x in text.split(",") if x.strip())


def names_of(event: Event) -> list[str]:
    """The names a channel's selection may match an event by: its type, and `job.failed`
    for a job that exited non-zero."""
    names = [event.type]
    if event.type == "job.finished" and event.data.get("exit_code") not in (0, None):
        names.append("job.failed")
    return names


def wanted(event: Event, selection: frozenset[str]) -> bool:
    """True if the channel's selection turns this event's notification on."""
    for name in names_of(event):
        if name in selection or any(s.endswith(".*") and name.startswith(s[:-1])
                                    for s in selection):
            return True
    return False


def render(event: Event, lang: str) -> str | None:
    """The event's message in `lang` (ko or en), prefixed with its account key; None for a
    type without a template."""
    template = TEMPLATES.get(event.type, {}).get(lang)
    if template is None:
        return None
    return f"[quartz {event.account}] {template(event.data)}"


def skipped_message(lang: str, first: int, last: int) -> str:
    """The message that says what a channel skipped over its backlog limit."""
    return SKIPPED[lang].format(count=last - first + 1, first=first, last=last,
                                before=first - 1)
