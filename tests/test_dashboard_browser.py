"""The dashboard in a real headless Chromium (the Debian package, driven by Playwright), after
a small simulated day on loopback: every page shows the CLI's numbers, a fill appears without
a reload (through the live stream) and one made while the stream is cut is caught up without
duplicates, login/logout, roles and CSRF, no console errors, axe-core finds no serious
violation, and screenshots at 1280 and 390 px.

Slow on purpose (~45 s for the module): one simulated day (`quartz decide` as a job, a few
orders, two short backtests) and one browser, shared by every test here; nothing else covers
the pages end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cli import quartz, quartz_json
from fakes.server import LoopbackServer
from quartz_cli.agents.documents import read_latest
from quartz_cli.app.dashboard import AnyDocument
from quartz_cli.app.events import event_log
from quartz_cli.app.runtime import open_store
from quartz_cli.config import LOCAL_CANO, load_config
from quartz_cli.servers.dashboard import DEFAULT_BUNDLE
from quartz_cli.servers.read_api import create_app
from trading_support import MARKET_TIME, seed_calendar

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE = DEFAULT_BUNDLE.parent / "app" / "node_modules" / "axe-core" / "axe.min.js"
# The market time the server and the CLI's reads share (the orders go in the session).
AFTER_CLOSE = {"QUARTZ_MARKET_TIME": "2026-11-24T19:00:00+09:00"}
# Streams close this often, so pages reconnect (and resume) during the tests.
SERVER = AFTER_CLOSE | {"QUARTZ_DASHBOARD_STREAM_SECONDS": "3"}
OPERATOR = "o" * 40
VIEWER = "v" * 40
PAGES = ("overview", "orders", "decisions", "macro", "candidates", "technical", "backtests",
         "health")
WIDTHS = (1280, 390)

if CHROMIUM is None:
    pytest.skip("no chromium: `apt-get install chromium` (.ci/run installs it)",
                allow_module_level=True)
if not (DEFAULT_BUNDLE / "index.html").is_file() or not AXE.is_file():
    pytest.skip("the dashboard is not built: `make web` (needs Node.js and npm)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory, calendar_cache: Path) -> dict[str, Any]:
    """A simulated trading day: decide (macro, selection, technical, orders), two manual
    orders; then the environment the CLI and the server share."""
    home = tmp_path_factory.mktemp("dashboard-home")
    seed_calendar(home, calendar_cache)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTZ_")} | {
        "QUARTZ_HOME": str(home), "QUARTZ_MARKET_TIME": MARKET_TIME,
        "QUARTZ_RATE_LIMIT_PER_S": "1000", "QUARTZ_INTERNAL_TOKEN": OPERATOR,
        "QUARTZ_DASHBOARD_VIEWER_TOKEN": VIEWER, "MAX_TURNOVER_RATIO": "1"}
    decided = quartz("decide", "--json", env=env | {"QUARTZ_JOB": "decide"})
    assert decided.returncode == 0, decided.stderr
    bought = quartz_json("trade", "buy", "005930", "3", env=env)
    sold = quartz_json("trade", "sell", "005930", "1", env=env)
    # Two stored backtests to compare, run side by side.
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda args: quartz_json("backtest", *args, env=env), [
            ("--from", "2026-11-02", "--to", "2026-11-20", "--universe", "005930,000660,035420"),
            ("--from", "2026-11-09", "--to", "2026-11-20", "--universe", "005930,000660")]))
    return {"env": env, "home": home, "plan": json.loads(decided.stdout), "bought": bought,
            "sold": sold, "backtests": runs}


@pytest.fixture(scope="module")
def url(day: dict[str, Any]) -> Iterator[str]:
    # The server's market clock runs from when this test process started, a CLI's from
    # when it starts: after the close both read the day's closing prices.
    with LoopbackServer(create_app(load_config(environ=day["env"] | SERVER))) as srv:
        yield srv.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        yield b
        b.close()


class Tab:
    """One browser context (its own cookies) with its console errors collected."""

    def __init__(self, browser: Any, url: str, width: int = 1280) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.url = url
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"{m.text} at {m.location.get('url')}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def login(self, token: str) -> None:
        self.page.goto(self.url + "/app/")
        self.page.fill("#token", token)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector("[data-page='overview'][data-ready='yes']")

    def open(self, name: str, query: str = "") -> Any:
        self.page.goto(f"{self.url}/app/#/{name}{query}")
        self.page.wait_for_selector(f"[data-page='{name}'][data-ready]")
        assert self.page.get_attribute("#page", "data-ready") == "yes", self.page.inner_text(
            "#page")
        return self.page

    def close(self) -> None:
        self.context.close()


def _digits(text: str) -> int:
    return int(re.sub(r"[^\d-]", "", text))


def _serious(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations"
                          ".map(v => ({id: v.id, impact: v.impact, n: v.nodes.length}))")
    return [f"{v['id']} ({v['n']})" for v in found if v["impact"] in ("serious", "critical")]


def test_every_page_shows_the_cli_numbers(browser, url, day, tmp_path):
    env = day["env"] | AFTER_CLOSE
    status = quartz_json("status", env=env)
    orders = quartz_json("trade", "orders", env=env)["orders"]
    store = open_store(load_config(environ=env))
    macro = read_latest(store, "macro-analysis", AnyDocument)
    candidates = read_latest(store, "candidates", AnyDocument)
    assert macro is not None and candidates is not None
    tab = Tab(browser, url)
    tab.login(OPERATOR)
    page = tab.open("overview")
    assert _digits(page.inner_text("[data-field=total_value_krw]")) == status["total_value_krw"]
    assert _digits(page.inner_text("[data-field=cash_krw]")) == status["cash_krw"]
    for p in status["positions"]:
        assert _digits(page.inner_text(f"[data-value='{p['ticker']}']")) == p["value_krw"]
        assert page.inner_text(f"[data-name='{p['ticker']}']") == p["name"]
    assert "삼성전자" in page.inner_text("#page")
    assert page.inner_text("[data-field=trading_state]") == "active"
    assert LOCAL_CANO not in page.content()
    page = tab.open("orders")
    for o in orders[:10]:
        assert page.inner_text(f"[data-state='{o['request_id']}']") == o["state"]
    page = tab.open("decisions")
    assert day["plan"]["run_id"] in page.inner_text("#page")
    page = tab.open("macro")
    assert page.inner_text("[data-field=bias]") == macro.document.model_dump()[
        "market_bias_hint"]
    assert page.locator(".markdown").count() == 2
    page = tab.open("candidates")
    text = page.inner_text("#page")
    assert all(c["code"] in text for c in candidates.document.model_dump()["candidates"])
    page = tab.open("technical", "?ticker=005930&period=D")
    assert page.inner_text("[data-field=chart-title]").startswith("삼성전자 (005930)")
    assert page.locator("#chart canvas").count() >= 3
    first, second = day["backtests"]
    page = tab.open("backtests", f"?a={first['id']}&b={second['id']}")
    for i, run in enumerate((first, second)):
        shown = page.inner_text(f"[data-metric='{i}-total_return']")
        assert shown == f"{run['performance']['total_return'] * 100:.2f}%"
        assert _digits(page.inner_text(f"[data-metric='{i}-end_value']")) == run[
            "performance"]["end_value"]
        assert page.locator(f"[data-run='{i}'] canvas").count() >= 2
    page = tab.open("health")
    assert "portfolio" in page.inner_text("#page")
    jobs = {j["job"]: j for j in quartz_json("events", "jobs", env=env)["jobs"]}
    assert jobs["decide"]["exit_code"] == 0
    assert page.inner_text("[data-job=decide]") == "ok"
    assert page.inner_text("[data-job=macro]") == "never run"
    assert "paces its own calls" in page.inner_text("[data-field=rate-budget]")
    problems = {}
    for name in PAGES:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            tab.open(name, "?ticker=005930&period=W" if name == "technical" else "")
            if name == "backtests":
                page.wait_for_selector("[data-run='1'] canvas")
            page.screenshot(path=str(tmp_path / f"{name}-{width}.png"), full_page=True)
            # Nothing overflows the phone's width but the tables' own scroll boxes.
            assert page.evaluate("document.documentElement.scrollWidth") <= width, name
        problems[name] = _serious(page)
    assert problems == {name: [] for name in PAGES}
    assert (tmp_path / "overview-390.png").stat().st_size > 10_000
    assert tab.errors == [], "\n".join(tab.errors)
    tab.close()


def _live_seqs(page: Any) -> list[int]:
    return [int(s) for s in page.eval_on_selector_all(
        ".events li", "items => items.map(i => i.dataset.seq)")]


def test_a_fill_appears_without_a_reload(browser, url, day):
    tab = Tab(browser, url, width=390)
    tab.login(VIEWER)
    page = tab.open("orders")
    page.wait_for_selector("[data-field=stream]:text('live')")
    page.evaluate("window.__same_document = true")
    bought = quartz_json("trade", "buy", "000660", "1", env=day["env"])
    page.wait_for_selector(f"[data-state='{bought['request_id']}']:text('filled')",
                           timeout=20_000)
    assert page.evaluate("window.__same_document") is True
    assert tab.errors == []
    # Cut the stream: it ends (QUARTZ_DASHBOARD_STREAM_SECONDS) and its reconnects fail.
    page.route("**/api/ui/stream*", lambda route: route.abort())
    page.wait_for_selector("[data-field=stream]:text('reconnecting')", timeout=20_000)
    sold = quartz_json("trade", "sell", "000660", "1", env=day["env"])
    page.unroute("**/api/ui/stream*")
    page.wait_for_selector(f"[data-state='{sold['request_id']}']:text('filled')",
                           timeout=20_000)
    # Every event since the page opened, once each, newest first: none lost, none twice.
    seqs = _live_seqs(page)
    log = event_log(load_config(environ=day["env"]))
    try:
        logged = [e.seq for e in log.since(seqs[-1] - 1, limit=100) if e.seq <= seqs[0]]
    finally:
        log.close()
    assert seqs == logged[::-1] and len(set(seqs)) == len(seqs)
    assert {f"order.{s}" for s in ("requested", "sent", "filled")} <= set(
        page.inner_text(".events").replace(" · ", "\n").split("\n"))
    assert page.evaluate("window.__same_document") is True
    # The only console errors are the refused reconnects.
    assert all("ERR_FAILED" in e or "stream" in e for e in tab.errors), tab.errors
    tab.close()


def test_roles_csrf_and_logout(browser, url, day):
    viewer = Tab(browser, url)
    viewer.login(VIEWER)
    assert viewer.page.locator("#halt").count() == 0
    assert viewer.page.inner_text("[data-field=role]") == "viewer"
    viewer.close()
    operator = Tab(browser, url)
    operator.login(OPERATOR)
    page = operator.page
    # A write without the CSRF header is refused, even from the logged-in page.
    refused = page.evaluate("""async () => (await fetch('/api/ui/trading-state', {method:
        'POST', headers: {'content-type': 'application/json'},
        body: JSON.stringify({state: 'halted'})})).status""")
    assert refused == 403
    page.fill("#reason", "lunch break")
    page.click("#halt")
    page.wait_for_selector("[data-field=trading_state] .halted")
    assert quartz_json("trade", "state", env=day["env"])["reason"] == "lunch break"
    operator.open("overview").click("#resume")
    page.wait_for_selector("[data-field=trading_state] .active")
    assert quartz_json("trade", "state", env=day["env"])["state"] == "active"
    page.click("#logout")
    page.wait_for_selector("#token")
    assert page.evaluate("async () => (await fetch('/api/ui/overview')).status") == 401
    # The cookie is not readable by scripts.
    assert "quartz_session" not in page.evaluate("document.cookie")
    # The only errors are the two refusals this test provoked (CSRF, then logged out).
    statuses = [re.search(r"status of (\d+)", e) for e in operator.errors]
    assert [m.group(1) if m else None for m in statuses] == ["403", "401"], operator.errors
    operator.close()
