"""KIS's multi-ticker quote, `intstock-multprice` (관심종목(멀티종목) 시세조회, TR FHKST11300006):
up to 30 tickers a call, served on the real-account domain only (the paper domain does not
offer it). Fields as KIS's own sample lists them (docs/external-apis.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from quartz_cli.domain.krx import normalize_ticker, tick_size
from quartz_cli.errors import BrokerError
from quartz_cli.kis.client import KisClient
from quartz_cli.kis.quotations import CurrentPrice, int_field

MULTI_PRICE_PATH = "/uapi/domestic-stock/v1/quotations/intstock-multprice"
MULTI_PRICE_TR_ID = "FHKST11300006"
MULTI_MAX = 30
# `mrkt_trtm_cls_name` (시장 조치 구분 명) names a measure on the ticker; KIS does not document
# its values. A trading halt is read from the word 정지 in it (an assumption, recorded in
# docs/external-apis.md), since this quote has no `temp_stop_yn`.
HALT_WORD = "정지"


def supports_multi_quote(kis: KisClient) -> bool:
    """True on the real-account domain (real TR_IDs), the only one that serves it."""
    return kis.endpoint.real_tr_ids


def _signed_change(row: dict[str, Any]) -> int:
    # KIS's sign code: 1 limit-up, 2 up, 3 unchanged, 4 limit-down, 5 down.
    change = abs(int_field(row, "inter2_prdy_vrss"))
    return -change if str(row.get("prdy_vrss_sign", "")) in ("4", "5") else change


def _price(row: dict[str, Any]) -> CurrentPrice:
    price = int_field(row, "inter2_prpr")
    try:
        pct = Decimal(str(row.get("prdy_ctrt", "") or "0").strip())
    except InvalidOperation:
        raise BrokerError("KIS answered a non-numeric prdy_ctrt") from None
    return CurrentPrice(
        code=str(row.get("inter_shrn_iscd", "")).strip(), price=price,
        change=_signed_change(row), change_pct=pct, open=int_field(row, "inter2_oprc"),
        high=int_field(row, "inter2_hgpr"), low=int_field(row, "inter2_lwpr"),
        base=int_field(row, "inter2_sdpr"), upper_limit=int_field(row, "inter2_mxpr"),
        lower_limit=int_field(row, "inter2_llam"), tick=tick_size(price) if price > 0 else 0,
        volume=int_field(row, "acml_vol"), traded_value=int_field(row, "acml_tr_pbmn"),
        halted=HALT_WORD in str(row.get("mrkt_trtm_cls_name", "")),
        market_warning="", market=str(row.get("kospi_kosdaq_cls_name", "")).strip(),
        sector="")


async def _chunk(kis: KisClient, codes: Sequence[str]) -> dict[str, CurrentPrice]:
    params: dict[str, str] = {}
    for n, code in enumerate(codes, start=1):
        params[f"FID_COND_MRKT_DIV_CODE_{n}"] = "J"
        params[f"FID_INPUT_ISCD_{n}"] = code
    resp = await kis.get(MULTI_PRICE_PATH, MULTI_PRICE_TR_ID, params)
    rows = resp.output("output") or []
    out: dict[str, CurrentPrice] = {}
    for row in rows if isinstance(rows, list) else []:
        # Rows are matched by their own code, not their position: KIS may leave one out.
        if isinstance(row, dict) and str(row.get("inter_shrn_iscd", "")).strip() in codes:
            p = _price(row)
            if p.price > 0:
                out[p.code] = p
    return out


async def multi_price(kis: KisClient, codes: Sequence[str],
                      ) -> tuple[dict[str, CurrentPrice], dict[str, str]]:
    """Current prices of `codes`, 30 a call (the calls run concurrently; the client's limiter
    paces them). A code missing from the answer, or whose call failed, is in the second dict
    with why."""
    wanted = list(dict.fromkeys(normalize_ticker(c) for c in codes))
    chunks = [wanted[i:i + MULTI_MAX] for i in range(0, len(wanted), MULTI_MAX)]
    answers = await asyncio.gather(*(_chunk(kis, c) for c in chunks), return_exceptions=True)
    prices: dict[str, CurrentPrice] = {}
    failed: dict[str, str] = {}
    for chunk, answer in zip(chunks, answers, strict=True):
        if isinstance(answer, BrokerError):
            failed.update(dict.fromkeys(chunk, answer.message))
            continue
        if isinstance(answer, BaseException):
            raise answer
        prices.update(answer)
        failed.update({c: f"KIS has no price for {c}" for c in chunk if c not in answer})
    return prices, failed
