"""In-process fake ECOS, FRED and World Bank endpoints for `local` (and tests).

They serve the bundled SAMPLE snapshot (`quartz_cli/data/macro/sample_snapshot.json`,
synthetic values, see scripts/macro_sample_snapshot.py) in each API's real response shape,
with its real date filtering, paging and error envelopes, so the collectors run the same
code as against the real services. `failing=True` makes an endpoint answer every request
with its API's server-error envelope (degraded-mode drills: QUARTZ_MACRO_FAKE_FAIL)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SAMPLE_KEY = "local-sample-key"


@lru_cache(maxsize=1)
def sample_snapshot() -> dict[str, Any]:
    """The bundled sample snapshot (parsed once)."""
    path = resources.files("quartz_cli.data") / "macro" / "sample_snapshot.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _ecos_result(code: str, message: str) -> JSONResponse:
    return JSONResponse({"RESULT": {"CODE": code, "MESSAGE": message}})


def ecos_app(snapshot: dict[str, Any] | None = None, *, failing: bool = False) -> Starlette:
    """`/api/StatisticSearch/{key}/json/kr/{first}/{last}/{stat}/{cycle}/{from}/{to}/{item}…`"""
    data = (snapshot or sample_snapshot())["ecos"]

    async def search(request: Request) -> JSONResponse:
        parts = request.path_params["rest"].split("/")
        if len(parts) < 9:
            return _ecos_result("ERROR-100", "필수 값이 누락되어 있습니다.")
        key, fmt, _lang, first, last, stat, cycle, start, end, *items = parts
        if not key:
            return _ecos_result("INFO-100", "인증키가 유효하지 않습니다.")
        if failing:
            return _ecos_result("ERROR-500", "서버 오류입니다. (sample fake: failure injected)")
        if fmt != "json":
            return _ecos_result("ERROR-200", "파일타입 값이 누락 혹은 유효하지 않습니다.")
        if not (first.isdigit() and last.isdigit()):
            return _ecos_result("ERROR-301", "조회건수 값의 타입이 유효하지 않습니다.")
        width = {"D": 8, "M": 6, "A": 4}.get(cycle)
        if width is None or len(start) != width or len(end) != width:
            return _ecos_result("ERROR-101", "주기와 다른 형식의 날짜 형식입니다.")
        entry = data.get(f"{stat}/{cycle}/{items[0] if items else ''}")
        rows = [r for r in (entry or {}).get("rows", []) if start <= r[0] <= end]
        if not rows:
            return _ecos_result("INFO-200", "해당하는 데이터가 없습니다.")
        window = rows[int(first) - 1: int(last)]
        return JSONResponse({"StatisticSearch": {"list_total_count": len(rows), "row": [
            {"STAT_CODE": stat, "STAT_NAME": entry["stat_name"], "ITEM_CODE1": items[0],
             "ITEM_NAME1": entry["item_name"], "ITEM_CODE2": None, "ITEM_NAME2": None,
             "ITEM_CODE3": None, "ITEM_NAME3": None, "ITEM_CODE4": None, "ITEM_NAME4": None,
             "UNIT_NAME": entry["unit"], "WGT": None, "TIME": t, "DATA_VALUE": v}
            for t, v in window]}})

    return Starlette(routes=[Route("/api/StatisticSearch/{rest:path}", search)])


def _fred_error(status: int, message: str) -> JSONResponse:
    # FRED labels JSON error bodies text/xml; the collector must parse them anyway.
    return JSONResponse({"error_code": status, "error_message": message}, status_code=status,
                        media_type="text/xml")


def fred_app(snapshot: dict[str, Any] | None = None, *, failing: bool = False) -> Starlette:
    """`/fred/series/observations?series_id=…&api_key=…&file_type=json&observation_start=…`"""
    data = (snapshot or sample_snapshot())["fred"]

    async def observations(request: Request) -> JSONResponse:
        q = request.query_params
        if not q.get("api_key"):
            return _fred_error(400, "Bad Request.  Variable api_key is not set.")
        if failing:
            return _fred_error(500, "Internal Server Error (sample fake: failure injected)")
        sid = q.get("series_id", "")
        if sid not in data:
            return _fred_error(400, "Bad Request.  The series does not exist.")
        start = q.get("observation_start", "1776-07-04")
        end = q.get("observation_end", "9999-12-31")
        rows = [r for r in data[sid] if start <= r[0] <= end]
        return JSONResponse({
            "realtime_start": "2026-11-24", "realtime_end": "2026-11-24",
            "observation_start": start, "observation_end": end, "units": "lin",
            "output_type": 1, "file_type": "json", "order_by": "observation_date",
            "sort_order": "asc", "count": len(rows), "offset": 0, "limit": 100000,
            "observations": [{"realtime_start": "2026-11-24", "realtime_end": "2026-11-24",
                              "date": d, "value": v} for d, v in rows],
        })

    return Starlette(routes=[Route("/fred/series/observations", observations)])


def _wb_message(code: str, key: str, value: str) -> JSONResponse:
    return JSONResponse([{"message": [{"id": code, "key": key, "value": value}]}])


_WB_NAMES = {"WLD": ("1W", "World"), "USA": ("US", "United States"), "KOR": ("KR", "Korea, Rep.")}


def worldbank_app(snapshot: dict[str, Any] | None = None, *, failing: bool = False) -> Starlette:
    """`/v2/country/{ISO3;…}/indicator/{code}?format=json&date=Y1:Y2&per_page=…&page=…`"""
    data = (snapshot or sample_snapshot())["worldbank"]

    async def indicator(request: Request) -> JSONResponse:
        if failing:
            return _wb_message("105", "Service currently unavailable",
                               "sample fake: failure injected")
        code = request.path_params["indicator"]
        countries = request.path_params["countries"].upper().split(";")
        q = request.query_params
        if code not in data or any(c not in _WB_NAMES for c in countries):
            return _wb_message("120", "Invalid value", "The provided parameter value is not valid")
        lo, _, hi = q.get("date", "1960:2100").partition(":")
        per_page, page = int(q.get("per_page", "50")), int(q.get("page", "1"))
        rows = []
        for c in countries:
            cid, cname = _WB_NAMES[c]
            for year, value in reversed(data[code]["rows"][c]):  # newest first, like the API
                if lo <= year <= (hi or lo):
                    rows.append({"indicator": {"id": code, "value": data[code]["name"]},
                                 "country": {"id": cid, "value": cname},
                                 "countryiso3code": c, "date": year, "value": value,
                                 "unit": "", "obs_status": "", "decimal": 1})
        pages = max(1, -(-len(rows) // per_page))
        chunk = rows[(page - 1) * per_page: page * per_page]
        return JSONResponse([{"page": page, "pages": pages, "per_page": per_page,
                              "total": len(rows), "sourceid": "2", "lastupdated": "2026-07-01"},
                             chunk])

    return Starlette(routes=[Route("/v2/country/{countries}/indicator/{indicator}", indicator)])
