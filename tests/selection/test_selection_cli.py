"""`quartz select` end to end in `local`: the bundled synthetic corpus through the in-process
fake sites, the lexicon, the local store and its fallback."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from test_selection_master import kospi_line
from typer.testing import CliRunner

from quartz_cli.cli.main import app
from quartz_cli.errors import InputError


def quartz(*args: str) -> tuple[int, object, Exception | None]:
    result = CliRunner().invoke(app, list(args))
    data = None
    if "--json" in args and result.exit_code == 0:
        data = json.loads(result.stdout)
    return result.exit_code, data, result.exception


def test_select_then_show_json_in_local() -> None:
    code, ran, _ = quartz("select", "--limit", "5", "--json")
    assert code == 0
    code, shown, _ = quartz("select", "show", "--json")
    assert code == 0
    assert shown["produced_at"] == ran["produced_at"] and shown["read_from"] == "store"
    cands = shown["candidates"]
    assert len(cands) == 5 and [c["rank"] for c in cands] == [1, 2, 3, 4, 5]
    scores = [c["score"] for c in cands]
    assert scores == sorted(scores, reverse=True)
    for c in cands:
        comp = c["components"]
        assert set(comp) == {"market_cap_tier", "sentiment", "news_count_norm", "priority"}
        assert c["score"] == pytest.approx(0.25 * comp["market_cap_tier"] + 0.40 * comp["sentiment"]
                                           + 0.25 * comp["news_count_norm"]
                                           + 0.10 * comp["priority"], abs=1e-5)
        assert c["top_articles"] and c["top_articles"][0]["sentence"]
    assert shown["synthetic_news"] is True
    assert shown["sentiment_engines"] == ["rules:finance-lexicon"]
    assert any("SYNTHETIC" in n for n in shown["notes"])
    assert [s["status"] for s in shown["sources"]] == ["fresh", "fresh", "fresh"]
    assert shown["duplicates_dropped"] >= 3
    # "SK는 …/SK그룹" in the corpus names the group, not SK Inc. (034730); "(주)LG" does name
    # LG Corp. (003550); "한전KPS" is not 한국전력, but "한전의" is.
    all_codes = {c["code"] for c in quartz("select", "run", "--limit", "100", "--json")[1]
                 ["candidates"]}
    assert "034730" not in all_codes and "003550" in all_codes
    assert "005380" in all_codes and "015760" in all_codes


def test_watchlist_raises_priority() -> None:
    _, data, _ = quartz("select", "--limit", "100", "--watch", "011200", "--json")
    hmm = next(c for c in data["candidates"] if c["code"] == "011200")
    assert hmm["components"]["priority"] == 1.0


def test_store_unreachable_keeps_a_local_file_uploaded_next_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quartz_home: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    monkeypatch.setenv("QUARTZ_STORE_DIR", str(blocker / "store"))
    code, first, _ = quartz("select", "--json")
    assert code == 0 and first["store_key"] is None and first["fallback_file"]
    assert Path(first["fallback_file"]).exists()
    code, shown, _ = quartz("select", "show", "--json")
    assert code == 0 and shown["read_from"].startswith("local fallback")
    assert shown["produced_at"] == first["produced_at"]

    monkeypatch.setenv("QUARTZ_STORE_DIR", str(tmp_path / "store"))
    code, second, _ = quartz("select", "--json")
    assert code == 0 and len(second["uploaded_pending"]) == 1 and second["store_key"]
    assert not Path(first["fallback_file"]).exists()
    dated = sorted(p for p in (tmp_path / "store" / "candidates").rglob("*.json")
                   if p.name != "latest.json")
    assert len(dated) == 2
    pointer = json.loads((tmp_path / "store" / "candidates" / "latest.json").read_text())
    assert pointer["key"] == second["store_key"]


def test_show_without_candidates_is_an_input_error() -> None:
    _, _, exc = quartz("select", "show", "--json")
    assert isinstance(exc, InputError) and exc.exit_code == 4


def test_universe_refresh_from_master_files(tmp_path: Path, quartz_home: Path) -> None:
    path = tmp_path / "kospi_code.mst.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("kospi_code.mst", "".join([
            kospi_line("005930", "삼성전자"), kospi_line("068270", "셀트리온", cap="2"),
            kospi_line("900002", "새상장기업", cap="3")]).encode("cp949"))
    code, data, _ = quartz("select", "universe", "--kospi", str(path), "--json")
    assert code == 0 and data["listings"] == 3
    assert (quartz_home / "universe.csv").exists()
    code, ran, _ = quartz("select", "--json")
    assert ran["universe_size"] == 3
    assert {c["code"] for c in ran["candidates"]} <= {"005930", "068270", "900002"}
    celltrion = next(c for c in ran["candidates"] if c["code"] == "068270")
    assert celltrion["tier"] == "MID" and celltrion["components"]["market_cap_tier"] == 0.6


def test_paper_uses_gemini_in_batches_and_never_prints_the_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from fakes.gemini import FakeGemini
    from fakes.news_sites import all_sites_app, art
    from fakes.server import LoopbackServer

    news = [art("naver", "셀트리온, 유럽 판매 승인", "셀트리온이 유럽 판매 승인을 받았다.", n=1),
            art("maeil", "카카오, 약세", "카카오 주가가 약세를 보였다.", n=2)]
    fake = FakeGemini()
    key = "AIzaFAKE-selection-test-key-0123456789"
    with LoopbackServer(all_sites_app(news, "https://news.example")) as site, \
            LoopbackServer(fake.app) as gem:
        # The model rates whatever pairs it is asked about (ids are computed by Quartz).
        fake.default = {"results": []}
        monkeypatch.setenv("QUARTZ_ENV", "paper")
        monkeypatch.setenv("GEMINI_API_KEY", key)
        monkeypatch.setenv("QUARTZ_GEMINI_BASE_URL", gem.url)
        monkeypatch.setenv("QUARTZ_NEWS_BASE_URL", site.url)
        monkeypatch.setenv("QUARTZ_NEWS_DELAY_S", "0")
        result = CliRunner().invoke(app, ["select", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert key not in result.output
    assert data["env"] == "paper" and len(fake.requests) == 1
    assert fake.requests[0]["api_key"] == key
    # Gemini answered no pairs: every verdict came from the lexicon, and the document says so.
    assert data["sentiment_engines"] == ["gemini:gemini-2.5-flash", "rules:finance-lexicon"]
    assert any("unrated" in n for n in data["notes"])
    assert {c["code"] for c in data["candidates"]} == {"068270", "035720"}


def test_show_marks_the_sources_of_an_old_document_stale(quartz_home: Path) -> None:
    from datetime import timedelta

    from quartz_cli.agents.documents import publish
    from quartz_cli.config import load_config
    from quartz_cli.domain.candidates import PREFIX, CandidatesDocument, NewsSourceStatus
    from quartz_cli.domain.documents import utcnow
    from quartz_cli.store.local import LocalStore

    doc = CandidatesDocument(
        produced_at=utcnow() - timedelta(days=3), env="local", weights={},
        sentiment_engines=["rules:finance-lexicon"], window_hours=24, universe_size=1,
        articles=1, articles_matched=0, duplicates_dropped=0, candidates=[],
        sources=[NewsSourceStatus(source="maeil", status="fresh", articles=1),
                 NewsSourceStatus(source="naver", status="forbidden", articles=0,
                                  error="robots.txt of x forbids /news/"),
                 NewsSourceStatus(source="hankyung", status="unreachable", articles=0,
                                  error="x unreachable: ConnectError")])
    publish(LocalStore(quartz_home / "store" / "local"), PREFIX, doc)
    assert load_config(None).settings.store.input_max_age_h < 72

    code, shown, _ = quartz("select", "show", "--json")
    assert code == 0 and shown["stale_document"] is True and shown["age_hours"] > 71
    assert {s["source"]: s["status"] for s in shown["sources"]} == {
        "maeil": "stale", "naver": "forbidden", "hankyung": "unreachable"}
    text = CliRunner().invoke(app, ["select", "show"]).stdout
    assert "unreachable hankyung" in text and "forbidden naver" in text
